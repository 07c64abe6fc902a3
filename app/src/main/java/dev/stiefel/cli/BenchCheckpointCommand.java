package dev.stiefel.cli;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.SyntheticWeights;
import dev.stiefel.llama.io.HuggingFaceWriter;
import dev.stiefel.tensor.DType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
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
    @Mixin SyntheticShape shape;
    @Option(names = "--out", required = true, description = "a .gguf file, or a directory for a Hugging Face checkpoint") Path out;

    @Override public Integer call() throws Exception {
        LlamaConfig c = shape.config();
        DType type = shape.dtype(DType.F32);
        System.err.printf("writing %s (%d layers) with random %s weights ...%n", shape.preset, c.layers(), type.lower());
        if (GgufSave.isGguf(out)) SyntheticShape.writeGguf(SyntheticWeights.source(c, type, 1), type, out); // one block in memory at a time
        else HuggingFaceWriter.write(SyntheticWeights.create(c, type, 1), out);
        System.err.printf("wrote %s%n", out);
        return 0;
    }
}
