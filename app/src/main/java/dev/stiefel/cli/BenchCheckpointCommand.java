package dev.stiefel.cli;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.SyntheticWeights;
import dev.stiefel.llama.io.GgmlType;
import dev.stiefel.llama.io.GgufModelWriter;
import dev.stiefel.llama.io.HuggingFaceWriter;
import dev.stiefel.tensor.DType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * A checkpoint of a real model's shape with random weights, written once so that benchmarks of Stiefel and of other
 * runtimes (llama.cpp reads the GGUF; its llama-quantize makes its own formats from it) run on the same file.
 */
@Command(name = "checkpoint", mixinStandardHelpOptions = true,
        description = "Write a synthetic checkpoint of a real model shape (e.g. TinyLlama-1.1B): a GGUF file (name *.gguf, with a synthetic "
                + "SentencePiece vocabulary) or a Hugging Face directory.")
final class BenchCheckpointCommand implements Callable<Integer> {
    @Option(names = "--preset", defaultValue = "tinyllama-1.1b", description = "model shape: tinyllama-1.1b, llama-2-7b, smollm-135m (default ${DEFAULT-VALUE})") String preset;
    @Option(names = "--layers", description = "keep only this many blocks") Integer layers;
    @Option(names = "--dtype", defaultValue = "f32", description = "weight storage: f32, bf16 or f16 (default ${DEFAULT-VALUE})") String dtype;
    @Option(names = "--out", required = true, description = "a .gguf file, or a directory for a Hugging Face checkpoint") Path out;

    @Override public Integer call() throws Exception {
        LlamaConfig c = BenchCommand.preset(preset, layers);
        DType type = DType.parse(dtype);
        System.err.printf("building %s (%d layers) with random %s weights ...%n", preset, c.layers(), type.lower());
        LlamaWeights w = SyntheticWeights.create(c, type, 1);
        if (GgufSave.isGguf(out)) {
            GgmlType matrices = switch (type) {
                case F32 -> GgmlType.F32;
                case F16 -> GgmlType.F16;
                case BF16 -> GgmlType.BF16;
                case I32 -> throw new AssertionError();
            };
            GgufModelWriter.write(w, SyntheticWeights.vocabulary(c.vocabSize()), out, matrices);
        } else HuggingFaceWriter.write(w, out);
        System.err.printf("wrote %s%n", out);
        return 0;
    }
}
