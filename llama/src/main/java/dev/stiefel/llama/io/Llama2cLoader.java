package dev.stiefel.llama.io;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.MappedFile;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Loads a llama2.c checkpoint (karpathy/llama2.c, run.c / runq.c and export.py). Three layouts exist:
 * <ul>
 *   <li>legacy: 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative
 *       vocab_size means the classifier is not shared with the embedding), then f32 arrays token_embedding,
 *       rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3 (each stacked over layers), rms_final, freq_cis_real and
 *       freq_cis_imag (seq_len × head_size/2 each, skipped: RoPE is recomputed), and wcls when not shared;</li>
 *   <li>version 1: uint32 magic "ak42", int32 version 1, the 7 ints, a shared-classifier byte, zero padding to
 *       256 bytes, then f32 rms_att (all layers), rms_ffn, rms_final, token_embedding, wq, wk, wv, wo, w1, w2, w3
 *       and wcls when not shared;</li>
 *   <li>version 2: the same header plus an int32 group size after the flag, the three norms in f32, then each of
 *       token_embedding, wq, wk, wv, wo, w1, w2, w3 (and wcls) as int8 values followed by one f32 scale per group
 *       (x = q·scale, "Q8_0" in groups of group_size over the flattened tensor), dequantized here on load.</li>
 * </ul>
 * Matrices are [out, in] (w1 = gate, w3 = up, w2 = down), Q/K rows in interleaved RoPE order; llama2.c fixes
 * RMSNorm ε = 1e-5 and θ = 10000 and head_size = dim / n_heads. f32 tensors are views of the mapped file.
 */
public final class Llama2cLoader {
    public static final int MAGIC = 0x616b3432; // "ak42"
    static final int VERSIONED_HEADER_BYTES = 256;
    static final float NORM_EPS = 1e-5f;
    static final double ROPE_THETA = 10000;

    private Llama2cLoader() {}

    /** Whether the file starts with the versioned-export magic. */
    static boolean hasMagic(MappedFile f) {
        return f.byteSize() >= 4 && f.segment().get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0) == MAGIC;
    }

    public static LlamaWeights load(Path path) throws IOException {
        MappedFile file = MappedFile.open(path);
        try {
            return read(path, file);
        } catch (Throwable e) { // Errors too (an OutOfMemoryError must not leak the mapping)
            file.close();
            throw e;
        }
    }

    private static LlamaWeights read(Path path, MappedFile file) throws IOException {
        ByteCursor in = new ByteCursor(path, file.segment(), 0);
        int version = 0;
        if (hasMagic(file)) {
            in.i32("magic");
            version = in.i32("version");
            if (version != 1 && version != 2)
                throw new ModelFormatException(path, "llama2.c export version " + version + " at offset 4 is not supported (1 = f32, 2 = int8 groups)");
        }
        int[] h = new int[7];
        long headerAt = in.position();
        String[] names = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
        for (int i = 0; i < 7; i++) h[i] = in.i32("header field " + names[i]);
        boolean shared;
        int groupSize = 0;
        if (version == 0) {
            shared = h[5] > 0;
            h[5] = Math.abs(h[5]);
        } else {
            int flag = in.u8("shared_classifier flag");
            if (flag > 1) throw new ModelFormatException(path, "shared_classifier flag at offset 36 is " + flag + ", expected 0 or 1");
            shared = flag == 1;
            if (version == 2) {
                groupSize = in.i32("group_size");
                if (groupSize <= 0) throw new ModelFormatException(path, "group_size at offset 37 is " + groupSize + ", expected a positive size");
            }
            in.seek(VERSIONED_HEADER_BYTES);
        }
        for (int i = 0; i < 7; i++)
            if (h[i] <= 0) throw new ModelFormatException(path, "header field " + names[i] + " at offset " + (headerAt + 4 * i) + " is " + h[i]
                    + ", expected a positive size");
        int dim = h[0], heads = h[3];
        if (dim % heads != 0) throw new ModelFormatException(path, "dim " + dim + " is not a multiple of n_heads " + heads);
        LlamaConfig c;
        try {
            c = new LlamaConfig(dim, h[1], h[2], heads, h[4], dim / heads, h[5], NORM_EPS, ROPE_THETA, null, Rope.Layout.INTERLEAVED, shared, h[6]);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(path, e.getMessage());
        }
        Layout t = new Layout(path, file, in, groupSize);
        LlamaWeights w = switch (version) {
            case 0 -> legacy(c, t);
            case 1 -> version1(c, t);
            default -> version2(c, t);
        };
        if (in.position() != file.byteSize())
            throw new ModelFormatException(path, "the tensors of " + describe(c, version) + " end at offset " + in.position()
                    + " but the file has " + file.byteSize() + " bytes");
        return new LlamaWeights(c, w.embedding(), w.layers(), w.finalNorm(), shared ? null : w.output(), List.of(file));
    }

    private static String describe(LlamaConfig c, int version) {
        return (version == 0 ? "a legacy" : "a version " + version) + " checkpoint (dim " + c.dim() + ", hidden " + c.hiddenDim() + ", "
                + c.layers() + " layers, " + c.heads() + " heads, " + c.kvHeads() + " kv heads, vocab " + c.vocabSize() + ", seq_len " + c.maxSeqLen()
                + (c.tiedEmbeddings() ? ", shared classifier)" : ", own classifier)");
    }

    private static LlamaWeights legacy(LlamaConfig c, Layout t) throws ModelFormatException {
        int L = c.layers(), d = c.dim(), hd = c.hiddenDim(), q = c.qDim(), kv = c.kvDim();
        Tensor emb = t.f32("token_embedding_table", c.vocabSize(), d);
        Tensor[] attnNorm = t.f32s("rms_att_weight", L, d);
        Tensor[] wq = t.f32s("wq", L, q, d), wk = t.f32s("wk", L, kv, d), wv = t.f32s("wv", L, kv, d), wo = t.f32s("wo", L, d, q);
        Tensor[] ffnNorm = t.f32s("rms_ffn_weight", L, d);
        Tensor[] w1 = t.f32s("w1", L, hd, d), w2 = t.f32s("w2", L, d, hd), w3 = t.f32s("w3", L, hd, d);
        Tensor norm = t.f32("rms_final_weight", d);
        t.skip("freq_cis_real", (long) c.maxSeqLen() * c.headDim() / 2 * 4);
        t.skip("freq_cis_imag", (long) c.maxSeqLen() * c.headDim() / 2 * 4);
        Tensor out = c.tiedEmbeddings() ? null : t.f32("wcls", c.vocabSize(), d);
        return assemble(c, emb, attnNorm, wq, wk, wv, wo, ffnNorm, w1, w2, w3, norm, out);
    }

    private static LlamaWeights version1(LlamaConfig c, Layout t) throws ModelFormatException {
        int L = c.layers(), d = c.dim(), hd = c.hiddenDim(), q = c.qDim(), kv = c.kvDim();
        Tensor[] attnNorm = t.f32s("attention_norm", L, d);
        Tensor[] ffnNorm = t.f32s("ffn_norm", L, d);
        Tensor norm = t.f32("norm", d);
        Tensor emb = t.f32("tok_embeddings", c.vocabSize(), d);
        Tensor[] wq = t.f32s("wq", L, q, d), wk = t.f32s("wk", L, kv, d), wv = t.f32s("wv", L, kv, d), wo = t.f32s("wo", L, d, q);
        Tensor[] w1 = t.f32s("w1", L, hd, d), w2 = t.f32s("w2", L, d, hd), w3 = t.f32s("w3", L, hd, d);
        Tensor out = c.tiedEmbeddings() ? null : t.f32("output", c.vocabSize(), d);
        return assemble(c, emb, attnNorm, wq, wk, wv, wo, ffnNorm, w1, w2, w3, norm, out);
    }

    private static LlamaWeights version2(LlamaConfig c, Layout t) throws ModelFormatException {
        int L = c.layers(), d = c.dim(), hd = c.hiddenDim(), q = c.qDim(), kv = c.kvDim();
        Tensor[] attnNorm = t.f32s("attention_norm", L, d);
        Tensor[] ffnNorm = t.f32s("ffn_norm", L, d);
        Tensor norm = t.f32("norm", d);
        Tensor emb = t.q8("tok_embeddings", c.vocabSize(), d);
        Tensor[] wq = t.q8s("wq", L, q, d), wk = t.q8s("wk", L, kv, d), wv = t.q8s("wv", L, kv, d), wo = t.q8s("wo", L, d, q);
        Tensor[] w1 = t.q8s("w1", L, hd, d), w2 = t.q8s("w2", L, d, hd), w3 = t.q8s("w3", L, hd, d);
        Tensor out = c.tiedEmbeddings() ? null : t.q8("output", c.vocabSize(), d);
        return assemble(c, emb, attnNorm, wq, wk, wv, wo, ffnNorm, w1, w2, w3, norm, out);
    }

    private static LlamaWeights assemble(LlamaConfig c, Tensor emb, Tensor[] attnNorm, Tensor[] wq, Tensor[] wk, Tensor[] wv, Tensor[] wo,
                                         Tensor[] ffnNorm, Tensor[] w1, Tensor[] w2, Tensor[] w3, Tensor norm, Tensor out) {
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++)  // llama2.c: w1 = gate, w3 = up, w2 = down
            layers.add(new LlamaWeights.Layer(attnNorm[l], wq[l], wk[l], wv[l], wo[l], ffnNorm[l], w1[l], w3[l], w2[l]));
        return new LlamaWeights(c, emb, layers, norm, out, List.of());
    }

    /** Walks the file's tensors in order, cutting views (or dequantizing), naming each tensor in bound errors. */
    private record Layout(Path path, MappedFile file, ByteCursor in, int groupSize) {
        private long reserve(String name, long bytes) throws ModelFormatException {
            long at = in.position();
            if (bytes > in.remaining())
                throw new ModelFormatException(path, "truncated: tensor " + name + " at offset " + at + " needs " + bytes
                        + " bytes but the file ends at " + in.size());
            in.seek(at + bytes);
            return at;
        }

        void skip(String name, long bytes) throws ModelFormatException { reserve(name, bytes); }

        Tensor f32(String name, int... shape) throws ModelFormatException {
            long at = reserve(name, numel(name, shape) * 4);
            return file.tensor(at, DType.F32, shape);
        }

        /**
         * {@code layers} tensors of {@code shape}, stored one after another. The list grows one tensor at a time, each
         * checked against the file first, so a huge layer count fails at the first layer that does not fit (with its
         * name and offset) instead of sizing an array: a header's count alone never sizes an allocation.
         */
        Tensor[] f32s(String name, int layers, int... shape) throws ModelFormatException {
            List<Tensor> t = new ArrayList<>();
            for (int l = 0; l < layers; l++) t.add(f32(name + "[" + l + "]", shape));
            return t.toArray(new Tensor[ReadLimits.elements(t.size(), 8)]);
        }

        /** int8 values, then one f32 scale per group of {@code groupSize} (export.py's quantize_q80 layout). */
        Tensor q8(String name, int... shape) throws ModelFormatException {
            long n = numel(name, shape);
            if (n % groupSize != 0)
                throw new ModelFormatException(path, "tensor " + name + " at offset " + in.position() + " has " + n
                        + " elements, not a multiple of the group size " + groupSize);
            long qAt = reserve(name + " (int8 values)", n);
            long sAt = reserve(name + " (f32 scales)", n / groupSize * 4);
            var seg = file.segment();
            var f32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            float[] x = new float[ReadLimits.elements(n, 4)]; // n int8 values lie in the file: 4 bytes per byte of it
            for (int g = 0; g < n / groupSize; g++) {
                float s = seg.get(f32, sAt + 4L * g);
                for (int j = 0; j < groupSize; j++) {
                    int i = g * groupSize + j;
                    x[i] = seg.get(ValueLayout.JAVA_BYTE, qAt + i) * s;
                }
            }
            return Tensor.wrap(x, shape);
        }

        Tensor[] q8s(String name, int layers, int... shape) throws ModelFormatException {
            List<Tensor> t = new ArrayList<>(); // as f32s: each layer checked before it is read
            for (int l = 0; l < layers; l++) t.add(q8(name + "[" + l + "]", shape));
            return t.toArray(new Tensor[ReadLimits.elements(t.size(), 8)]);
        }

        /** Elements of a tensor: positive header sizes, at most 2^31-1 of them (what one tensor can index). */
        private long numel(String name, int[] shape) throws ModelFormatException {
            long n = 1;
            for (int s : shape) {
                n *= s; // a product of values below 2^31 that stayed below 2^31: no overflow
                if (n > Integer.MAX_VALUE)
                    throw new ModelFormatException(path, "tensor " + name + " at offset " + in.position() + " would have more than 2^31-1 elements");
            }
            return n;
        }
    }
}
