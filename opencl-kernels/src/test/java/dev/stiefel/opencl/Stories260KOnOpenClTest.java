package dev.stiefel.opencl;

import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.Progress;
import dev.stiefel.llama.eval.EvalDataset;
import dev.stiefel.llama.eval.Perplexity;
import dev.stiefel.llama.io.Llama2cLoader;
import dev.stiefel.llama.tokenizer.Llama2cTokenizerFile;
import dev.stiefel.llama.tokenizer.Tokenizer;
import dev.stiefel.tensor.backend.Backend;
import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.cpu.CpuBackend;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code eval ppl} of the real stories260K on TinyStories: the OpenCL backend's perplexity within 1e-4 (relative) of the CPU's. */
class Stories260KOnOpenClTest {
    private static Path shared(String relative) {
        Path p = EvalDataset.sharedDir().resolve(relative);
        Assumptions.assumeTrue(Files.isRegularFile(p), "skipped: no " + p + " here (../shared is absent)");
        return p;
    }

    @Test
    void perplexityMatchesTheCpu() throws Exception {
        shared("data/tinystories/tinystories_val.txt");
        OpenClBackend cl = OpenCl.backend();
        Backend before = Backends.current();
        try (LlamaWeights w = Llama2cLoader.load(shared("models/stories260K/stories260K.bin"))) {
            Tokenizer tok = Llama2cTokenizerFile.load(shared("models/stories260K/tok512.bin"));
            int[] tokens = EvalDataset.load("tinystories").tokens(t -> tok.encode(t, false), tok.bos(), false);
            Perplexity.Options windows = new Perplexity.Options(256, 4, 0);
            Backends.use(CpuBackend.INSTANCE);
            Perplexity.Result cpu = Perplexity.evaluate(new LlamaModel(w), tokens, windows, Progress.silent());
            Backends.use(cl);
            Perplexity.Result gpu;
            try (var scope = cl.scope()) {
                gpu = Perplexity.evaluate(new LlamaModel(w.map(cl::resident)), tokens, windows, Progress.silent());
            }
            assertThat(gpu.windows()).isEqualTo(4);
            assertThat(Math.abs(gpu.perplexity() - cpu.perplexity()) / cpu.perplexity()).as("cpu %s, opencl %s", cpu, gpu).isLessThan(1e-4);
        } finally {
            Backends.use(before);
        }
    }
}
