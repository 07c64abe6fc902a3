package dev.stiefel.cli;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.SyntheticWeights;
import dev.stiefel.llama.WeightSource;
import dev.stiefel.llama.io.GgmlType;
import dev.stiefel.llama.io.GgufModelWriter;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.PackedStorage;
import dev.stiefel.tensor.Tensor;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;

/** {@code --preset}, {@code --layers}, {@code --dtype}: a real model's shape with random weights, for the bench commands. */
final class SyntheticShape {
    @Option(names = "--preset", defaultValue = "tinyllama-1.1b", description = "model shape: tinyllama-1.1b, llama-2-7b, smollm-135m (default ${DEFAULT-VALUE})") String preset;
    @Option(names = "--layers", description = "keep only this many blocks (to fit memory); figures are per model as built") Integer layers;
    @Option(names = "--dtype", description = "weight storage: f32, bf16 or f16 (default: f32; bf16 for bench quantize)") String dtype;

    /** The preset's config ({@link SyntheticWeights#preset}), cut to {@code --layers} blocks when given. */
    LlamaConfig config() {
        LlamaConfig c = SyntheticWeights.preset(preset);
        if (layers == null) return c;
        BenchCommand.requirePositive("--layers", layers);
        return new LlamaConfig(c.dim(), c.hiddenDim(), layers, c.heads(), c.kvHeads(), c.headDim(), c.vocabSize(), c.normEps(),
                c.ropeTheta(), c.ropeScaling(), c.ropeLayout(), c.tiedEmbeddings(), c.maxSeqLen());
    }

    /** {@code --dtype}, or {@code fallback} when it is not given. */
    DType dtype(DType fallback) { return dtype == null ? fallback : DType.parse(dtype); }

    /** The weights as a GGUF file with the synthetic vocabulary, the matrices in their own dtype (llama.cpp reads it). */
    static void writeGguf(WeightSource w, DType type, Path file) throws IOException {
        GgmlType matrices = switch (type) {
            case F32 -> GgmlType.F32;
            case F16 -> GgmlType.F16;
            case BF16 -> GgmlType.BF16;
            case I32 -> throw new IllegalArgumentException("synthetic weights are f32, f16 or bf16");
        };
        GgufModelWriter.write(w, SyntheticWeights.vocabulary(w.config().vocabSize()), file, matrices);
    }

    /** Bytes a tensor's elements take as stored: a packed matrix's codes, scales and zero points, else elements × dtype. */
    static long storedBytes(Tensor t) {
        return t.storage() instanceof PackedStorage p ? p.matrix().bytes() : (long) t.numel() * t.dtype().bytes();
    }
}
