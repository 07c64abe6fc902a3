package dev.stiefel.llama;

import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.FloatStorage;
import dev.stiefel.tensor.Half;
import dev.stiefel.tensor.HalfStorage;
import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.Storage;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Random weights of a real model's shape, for speed measurements where no checkpoint can be downloaded. Values are
 * uniform with the variance of N(0, 1/fan_in) (norm gains 1), filled in parallel from a seed (each tensor and chunk
 * its own split stream, so the result does not depend on the thread count).
 */
public final class SyntheticWeights {
    private SyntheticWeights() {}

    /** Presets by name, each a published config.json's numbers (norm eps, theta and context as published). */
    public static LlamaConfig preset(String name) {
        return switch (name.toLowerCase(java.util.Locale.ROOT)) {
            // TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T config.json
            case "tinyllama-1.1b" -> new LlamaConfig(2048, 5632, 22, 32, 4, 64, 32000, 1e-5f, 10000, null,
                    dev.stiefel.tensor.Rope.Layout.HALF, false, 2048);
            // meta-llama/Llama-2-7b-hf config.json
            case "llama-2-7b" -> new LlamaConfig(4096, 11008, 32, 32, 32, 128, 32000, 1e-5f, 10000, null,
                    dev.stiefel.tensor.Rope.Layout.HALF, false, 4096);
            // HuggingFaceTB/SmolLM-135M config.json
            case "smollm-135m" -> new LlamaConfig(576, 1536, 30, 9, 3, 64, 49152, 1e-5f, 10000, null,
                    dev.stiefel.tensor.Rope.Layout.HALF, true, 2048);
            default -> throw new IllegalArgumentException("unknown preset '" + name + "'; known: tinyllama-1.1b, llama-2-7b, smollm-135m");
        };
    }

    /**
     * A SentencePiece vocabulary of {@code size} tokens that runtimes load as they load LLaMA's (unk, bos, eos, the 256
     * byte tokens, then pieces "▁t4", "▁t5", ...): for synthetic checkpoints that another runtime (llama.cpp) must
     * open. Texts tokenize to bytes; benchmarks feed token ids anyway.
     */
    public static dev.stiefel.llama.tokenizer.Vocabulary vocabulary(int size) {
        if (size < 259) throw new IllegalArgumentException("synthetic vocabulary: " + size + " tokens; unk, bos, eos and 256 bytes need 259");
        List<String> tokens = new ArrayList<>();
        float[] scores = new float[size];
        int[] types = new int[size];
        tokens.add("<unk>");
        tokens.add("<s>");
        tokens.add("</s>");
        types[0] = dev.stiefel.llama.tokenizer.Vocabulary.UNKNOWN;
        types[1] = types[2] = dev.stiefel.llama.tokenizer.Vocabulary.CONTROL;
        for (int b = 0; b < 256; b++) {
            tokens.add(String.format("<0x%02X>", b));
            types[3 + b] = dev.stiefel.llama.tokenizer.Vocabulary.BYTE;
        }
        for (int i = tokens.size(); i < size; i++) {
            tokens.add("\u2581t" + i);
            types[i] = dev.stiefel.llama.tokenizer.Vocabulary.NORMAL;
            scores[i] = -i;
        }
        return new dev.stiefel.llama.tokenizer.Vocabulary(dev.stiefel.llama.tokenizer.Vocabulary.Kind.SENTENCEPIECE, tokens, scores, types, List.of(),
                1, 2, 0, true, true);
    }

    /** The whole model in memory. The same values as {@link #source} hands out, part by part. */
    public static LlamaWeights create(LlamaConfig c, DType dtype, long seed) {
        WeightSource s = source(c, dtype, seed);
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) layers.add(s.layer(l));
        Tensor emb = s.embedding();
        return new LlamaWeights(c, emb, layers, s.finalNorm(), c.tiedEmbeddings() ? null : s.output(), List.of());
    }

    /**
     * The model built part by part on demand: each part (the embedding, each block, the head) from its own stream of
     * the seed, so a writer can stream a checkpoint of any size in the memory of one block. The last block built is
     * kept, since a writer asks for a block's matrices one at a time.
     */
    public static WeightSource source(LlamaConfig c, DType dtype, long seed) {
        return new WeightSource() {
            private int cachedLayer = -1;
            private LlamaWeights.Layer cached;

            @Override public LlamaConfig config() { return c; }

            @Override public Tensor embedding() { return fill(part(seed, 0), c.vocabSize(), c.dim(), 1.0, dtype); }

            @Override public synchronized LlamaWeights.Layer layer(int l) {
                if (l < 0 || l >= c.layers()) throw new IndexOutOfBoundsException("synthetic weights: block " + l + " of " + c.layers());
                if (l != cachedLayer) {
                    SplittableRandom r = part(seed, 2 + l);
                    cached = new LlamaWeights.Layer(ones(c.dim(), dtype), linear(r, c.qDim(), c.dim(), dtype),
                            linear(r, c.kvDim(), c.dim(), dtype), linear(r, c.kvDim(), c.dim(), dtype),
                            linear(r, c.dim(), c.qDim(), dtype), ones(c.dim(), dtype), linear(r, c.hiddenDim(), c.dim(), dtype),
                            linear(r, c.hiddenDim(), c.dim(), dtype), linear(r, c.dim(), c.hiddenDim(), dtype));
                    cachedLayer = l;
                }
                return cached;
            }

            @Override public Tensor finalNorm() { return ones(c.dim(), dtype); }

            @Override public Tensor output() { return c.tiedEmbeddings() ? embedding() : linear(part(seed, 1), c.vocabSize(), c.dim(), dtype); }
        };
    }

    /** Part {@code i}'s own stream: the i-th split of the seed's root, so no part depends on which others were built. */
    private static SplittableRandom part(long seed, int i) {
        SplittableRandom root = new SplittableRandom(seed), r = root.split();
        for (int k = 0; k < i; k++) r = root.split();
        return r;
    }

    private static Tensor linear(SplittableRandom root, int out, int in, DType dtype) {
        return fill(root, out, in, 1 / Math.sqrt(in), dtype);
    }

    private static Tensor ones(int n, DType dtype) { return Tensor.ones(n).to(dtype); }

    /** Uniform on [−a, a] with a = √3·std, so the variance is std². */
    private static Tensor fill(SplittableRandom root, int rows, int cols, double std, DType dtype) {
        long n = (long) rows * cols;
        float a = (float) (Math.sqrt(3) * std);
        int chunk = 1 << 16, chunks = (int) ((n + chunk - 1) / chunk);
        SplittableRandom[] streams = new SplittableRandom[chunks];
        for (int i = 0; i < chunks; i++) streams[i] = root.split();
        Storage storage;
        if (dtype == DType.F32) {
            float[] d = new float[(int) n];
            Parallel.forRange(chunks, 1, (from, to) -> {
                for (int ch = from; ch < to; ch++)
                    for (int i = ch * chunk, end = (int) Math.min(n, (long) (ch + 1) * chunk); i < end; i++)
                        d[i] = (float) ((streams[ch].nextDouble() * 2 - 1) * a);
            });
            storage = new FloatStorage(d);
        } else if (dtype == DType.BF16 || dtype == DType.F16) {
            short[] d = new short[(int) n];
            Parallel.forRange(chunks, 1, (from, to) -> {
                for (int ch = from; ch < to; ch++)
                    for (int i = ch * chunk, end = (int) Math.min(n, (long) (ch + 1) * chunk); i < end; i++) {
                        float v = (float) ((streams[ch].nextDouble() * 2 - 1) * a);
                        d[i] = dtype == DType.BF16 ? Half.floatToBf16(v) : Half.floatToF16(v);
                    }
            });
            storage = new HalfStorage(d, dtype);
        } else throw new IllegalArgumentException("synthetic weights: dtype must be f32, f16 or bf16, got " + dtype.lower());
        return Tensor.of(storage, rows, cols);
    }
}
