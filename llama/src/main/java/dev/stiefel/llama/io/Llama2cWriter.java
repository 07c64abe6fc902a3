package dev.stiefel.llama.io;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Writes llama2.c checkpoints in the three layouts {@link Llama2cLoader} reads, following export.py's
 * legacy_export, version1_export and version2_export. Rotate-half weights are permuted to interleaved order first.
 * The format stores neither ε, θ nor a head size, so a config that differs from llama2.c's fixed ones (ε = 1e-5,
 * θ = 10000, no rope scaling, head_size = dim / n_heads) is refused rather than silently changed.
 */
public final class Llama2cWriter {
    public enum Version { LEGACY, V1, V2 }

    private Llama2cWriter() {}

    public static void write(LlamaWeights weights, Path path, Version version) throws IOException { write(weights, path, version, 64); }

    /** @param groupSize the int8 group size of {@link Version#V2} (every matrix's element count must be a multiple) */
    public static void write(LlamaWeights weights, Path path, Version version, int groupSize) throws IOException {
        LlamaConfig c = weights.config();
        if (c.normEps() != Llama2cLoader.NORM_EPS || c.ropeTheta() != Llama2cLoader.ROPE_THETA || c.ropeScaling() != null
                || c.headDim() * c.heads() != c.dim() || c.architecture() != LlamaConfig.Architecture.LLAMA)
            throw new IllegalArgumentException("llama2.c writer: the format fixes a LLaMA block (no biases, no q/k norms), eps 1e-5, "
                    + "theta 10000, no rope scaling and head_dim = dim/heads; got " + c);
        LlamaWeights w = RopePermutation.toLayout(weights, Rope.Layout.INTERLEAVED);
        List<LlamaWeights.Layer> ls = w.layers();
        List<Tensor> matrices = new ArrayList<>();
        for (Function<LlamaWeights.Layer, Tensor> f : List.<Function<LlamaWeights.Layer, Tensor>>of(
                LlamaWeights.Layer::wq, LlamaWeights.Layer::wk, LlamaWeights.Layer::wv, LlamaWeights.Layer::wo,
                LlamaWeights.Layer::wGate, LlamaWeights.Layer::wDown, LlamaWeights.Layer::wUp))  // w1, w2, w3
            for (LlamaWeights.Layer l : ls) matrices.add(f.apply(l));
        boolean shared = c.tiedEmbeddings();
        AtomicFiles.write(path, out -> {
            switch (version) {
                case LEGACY -> {
                    AtomicFiles.writeFully(out, header(c, shared ? c.vocabSize() : -c.vocabSize()));
                    f32(out, w.embedding());
                    for (LlamaWeights.Layer l : ls) f32(out, l.attnNorm());
                    for (int i = 0; i < 4 * ls.size(); i++) f32(out, matrices.get(i));          // wq, wk, wv, wo
                    for (LlamaWeights.Layer l : ls) f32(out, l.ffnNorm());
                    for (int i = 4 * ls.size(); i < matrices.size(); i++) f32(out, matrices.get(i)); // w1, w2, w3
                    f32(out, w.finalNorm());
                    Tensor[] freqs = freqCis(c);
                    f32(out, freqs[0]);
                    f32(out, freqs[1]);
                    if (!shared) f32(out, w.output());
                }
                case V1 -> {
                    AtomicFiles.writeFully(out, versionedHeader(c, 1, shared, 0));
                    for (LlamaWeights.Layer l : ls) f32(out, l.attnNorm());
                    for (LlamaWeights.Layer l : ls) f32(out, l.ffnNorm());
                    f32(out, w.finalNorm());
                    f32(out, w.embedding());
                    for (Tensor m : matrices) f32(out, m);
                    if (!shared) f32(out, w.output());
                }
                case V2 -> {
                    List<Tensor> q = new ArrayList<>();
                    q.add(w.embedding());
                    q.addAll(matrices);
                    if (!shared) q.add(w.output());
                    for (Tensor t : q)
                        if (t.numel() % groupSize != 0)
                            throw new IllegalArgumentException("llama2.c writer: a tensor of " + t.numel() + " elements is not a multiple of group size " + groupSize);
                    AtomicFiles.writeFully(out, versionedHeader(c, 2, shared, groupSize));
                    for (LlamaWeights.Layer l : ls) f32(out, l.attnNorm());
                    for (LlamaWeights.Layer l : ls) f32(out, l.ffnNorm());
                    f32(out, w.finalNorm());
                    for (Tensor t : q) q8(out, t, groupSize);
                }
            }
        });
    }

    private static ByteBuffer header(LlamaConfig c, int vocab) {
        ByteBuffer b = ByteBuffer.allocate(28).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(c.dim()).putInt(c.hiddenDim()).putInt(c.layers()).putInt(c.heads()).putInt(c.kvHeads()).putInt(vocab).putInt(c.maxSeqLen());
        return b.flip();
    }

    private static ByteBuffer versionedHeader(LlamaConfig c, int version, boolean shared, int groupSize) {
        ByteBuffer b = ByteBuffer.allocate(Llama2cLoader.VERSIONED_HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(Llama2cLoader.MAGIC).putInt(version).put(header(c, c.vocabSize())).put((byte) (shared ? 1 : 0));
        if (version == 2) b.putInt(groupSize);
        return b.clear(); // the whole 256 bytes, zero-padded
    }

    private static void f32(FileChannel out, Tensor t) throws IOException { TensorBytes.write(t, DType.F32, out); }

    /**
     * export.py's quantize_q80 over the flattened tensor: per group, scale = max|w| / 127 and q = round(w / scale)
     * with torch.round's half-to-even; then all int8 values followed by all f32 scales. An all-zero group gets
     * scale 0 and q = 0 (where torch would divide by zero).
     */
    private static void q8(FileChannel out, Tensor t, int groupSize) throws IOException {
        float[] x = t.toFloatArray();
        int groups = x.length / groupSize;
        ByteBuffer q = ByteBuffer.allocate(x.length);
        ByteBuffer s = ByteBuffer.allocate(groups * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int g = 0; g < groups; g++) {
            float max = 0;
            for (int j = 0; j < groupSize; j++) max = Math.max(max, Math.abs(x[g * groupSize + j]));
            float scale = max / 127.0f;
            s.putFloat(scale);
            for (int j = 0; j < groupSize; j++) q.put(scale == 0 ? 0 : (byte) Math.rint(x[g * groupSize + j] / scale));
        }
        AtomicFiles.writeFully(out, q.flip());
        AtomicFiles.writeFully(out, s.flip());
    }

    /**
     * export.py's freqs_cos/freqs_sin tables [seq_len, head_size/2] (cos and sin of position·θ^(−2i/d)), which the
     * legacy layout carries though run.c ignores them.
     */
    private static Tensor[] freqCis(LlamaConfig c) {
        int half = c.headDim() / 2;
        float[] cos = new float[c.maxSeqLen() * half], sin = new float[cos.length];
        double[] inv = Rope.frequencies(c.headDim(), c.ropeTheta());
        for (int p = 0; p < c.maxSeqLen(); p++)
            for (int i = 0; i < half; i++) {
                cos[p * half + i] = (float) Math.cos(p * inv[i]);
                sin[p * half + i] = (float) Math.sin(p * inv[i]);
            }
        return new Tensor[]{Tensor.wrap(cos, c.maxSeqLen(), half), Tensor.wrap(sin, c.maxSeqLen(), half)};
    }
}
