package dev.stiefel.cli;

import dev.stiefel.llama.Generator;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.Sampler;
import dev.stiefel.llama.SyntheticWeights;
import dev.stiefel.llama.io.LoadedModel;
import dev.stiefel.llama.io.ModelFiles;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.export.PackedExport;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.cpu.StreamRate;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.Arrays;
import java.util.Random;

/**
 * Prefill and decode speed of the LLaMA forward pass on random weights of a real model's shape. Decoding one token
 * reads every linear weight once, so it is bandwidth-bound: the GB/s it implies is set beside the rate at which the
 * machine streams memory ({@link StreamRate}), measured in the same run.
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Prefill and decode tokens/s on synthetic weights of a real model shape (e.g. TinyLlama-1.1B).")
final class BenchGenerateCommand implements java.util.concurrent.Callable<Integer> {
    @Mixin SyntheticShape shape;
    @Option(names = "--prompt", defaultValue = "128", description = "prompt tokens for the prefill (default ${DEFAULT-VALUE})") int prompt;
    @Option(names = "--tokens", defaultValue = "32", description = "tokens to decode (default ${DEFAULT-VALUE})") int tokens;
    @Option(names = "--reps", defaultValue = "3", description = "timed runs; the median is reported (default ${DEFAULT-VALUE})") int reps;
    @Option(names = "--quant", description = "quantize the synthetic weights to packed codes with RTN first: a weight config such as W4A16g128, "
            + "W8A16, W4A8 (dynamic activation quantizers run too)") String quant;
    @Option(names = "--model", paramLabel = "DIR", description = "time this model instead of synthetic weights (a packed directory runs on the packed kernels)") java.nio.file.Path model;

    /** The array streamed for the memory bound: 16 times a large L3 cache, or an eighth of the heap if that is less. */
    private static final long STREAM_BYTES = Math.min(512L << 20, Runtime.getRuntime().maxMemory() / 8);

    @Override public Integer call() throws Exception {
        BenchCommand.requirePositive("--prompt", prompt);
        BenchCommand.requirePositive("--tokens", tokens);
        BenchCommand.requirePositive("--reps", reps);
        if (model != null && quant != null) throw new IllegalArgumentException("--model and --quant: a model file is timed as it is stored");
        QuantConfig qc = quant == null ? null : QuantConfig.parse(quant);
        if (qc != null) PackedExport.packing(qc); // a config the packed kernels cannot run fails before minutes of building
        LlamaModel lm;
        LlamaWeights w;
        if (model != null) {
            LoadedModel loaded = ModelFiles.load(model);
            w = loaded.weights();
            lm = loaded.isPacked() ? PackedExport.load(loaded).model() : new LlamaModel(w);
            System.out.printf("timing %s%s%n", model, loaded.isPacked() ? " (packed)" : "");
        } else {
            LlamaConfig c = shape.config();
            DType type = shape.dtype(DType.F32);
            System.out.printf("building %s (%d layers) with random %s weights%s ...%n", shape.preset, c.layers(), type.lower(), qc == null ? "" : ", then RTN to " + qc.shorthand() + " codes");
            w = SyntheticWeights.create(c, type, 1);
            if (qc != null) {
                QuantizedModel q = PackedExport.rtn(w, qc, ProgressFactory.STDERR);
                w = q.weights();
                lm = q.model();
            } else lm = new LlamaModel(w);
        }
        LlamaConfig c = w.config();
        double streamed = decodeBytes(w);
        System.out.printf("decode streams %.2f GB of weights per token; prompt %d tokens, %d decoded, %d timed runs after 1 warm-up%n",
                streamed * 1e-9, prompt, tokens, reps);
        double built = RunStats.peakHeapBytes() / 1048576.0;
        RunStats.resetPeakHeap(); // the figure below is generation's, not that of building random weights
        double live = java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed() / 1048576.0;
        int[] ids = new int[prompt];
        Random rnd = new Random(3);
        for (int i = 0; i < prompt; i++) ids[i] = rnd.nextInt(c.vocabSize());
        double[] prefill = new double[reps], decode = new double[reps];
        for (int r = -1; r < reps; r++) {
            Generator.Result res = new Generator(lm).generate(ids, tokens, Sampler.greedy(), -1, t -> {});
            if (r < 0) continue;
            prefill[r] = res.prefillTokensPerSecond();
            decode[r] = res.decodeTokensPerSecond();
        }
        Arrays.sort(prefill);
        Arrays.sort(decode);
        double p = prefill[reps / 2], d = decode[reps / 2];
        double flopsPerToken = 2.0 * decodeParameters(w);
        System.out.printf("prefill: %8.1f tokens/s (%.1f GFLOP/s in the linear layers)%n", p, p * flopsPerToken * 1e-9);
        // the memory bound, measured now: a decode step reads every weight once
        double stream = StreamRate.measure(STREAM_BYTES, Parallel.threads(), 5).gigabytesPerSecond();
        System.out.printf("decode:  %8.2f tokens/s (%.1f GB/s of weights, %.0f%% of the %.1f GB/s this machine streams on %d threads)%n",
                d, d * streamed * 1e-9, 100 * d * streamed * 1e-9 / stream, stream, Parallel.threads());
        System.out.printf("memory:  %.1f MiB of heap live with the model loaded; peak heap %.1f MiB while generating, %.1f MiB while building "
                + "or loading the model (peaks: upper bounds, the heap pools' peaks summed)%n", live, RunStats.peakHeapBytes() / 1048576.0, built);
        return 0;
    }

    /** Bytes of every weight a decode step reads in full: the linear layers and the output head (one embedding row aside); packed ones as stored. */
    static double decodeBytes(LlamaWeights w) {
        double bytes = 0;
        for (Tensor t : decodeMatrices(w)) bytes += SyntheticShape.storedBytes(t);
        return bytes;
    }

    private static double decodeParameters(LlamaWeights w) {
        double n = 0;
        for (Tensor t : decodeMatrices(w)) n += t.numel();
        return n;
    }

    private static java.util.List<Tensor> decodeMatrices(LlamaWeights w) {
        java.util.List<Tensor> out = new java.util.ArrayList<>();
        for (LlamaWeights.Layer l : w.layers()) out.addAll(java.util.List.of(l.wq(), l.wk(), l.wv(), l.wo(), l.wGate(), l.wUp(), l.wDown()));
        out.add(w.output());
        return out;
    }
}
