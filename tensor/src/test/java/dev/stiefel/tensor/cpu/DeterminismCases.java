package dev.stiefel.tensor.cpu;

import dev.stiefel.tensor.Attention;
import dev.stiefel.tensor.Backward;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.packed.Int8Gemm;
import dev.stiefel.tensor.packed.Int8Rows;
import dev.stiefel.tensor.packed.PackedGemv;
import dev.stiefel.tensor.packed.PackedMatrix;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;

/**
 * One call of every CPU kernel family on small fixed inputs of odd sizes (so whole vectors and masked tails both
 * run), for {@link DeterminismTest}: each case returns the raw bits of its outputs. {@link #main} runs the cases in
 * a JVM of their own, which the test starts: a fresh one, so the first calls really are interpreted, or one with
 * {@code -Xint}, where every Vector API call takes its Java fallback.
 */
final class DeterminismCases {
    private DeterminismCases() {}

    /** The cases, in a fixed order, over inputs made once from fixed seeds. */
    static Map<String, Supplier<int[]>> all() {
        Random r = new Random(2024);
        Tensor x = Tensor.uniform(r, -6, 6, 3, 45), pos = Tensor.uniform(r, 0.01f, 50, 3, 45);
        Tensor g = Tensor.uniform(r, -1, 1, 3, 45), u = Tensor.uniform(r, -2, 2, 3, 45), w = Tensor.uniform(r, 0.5f, 1.5f, 45);
        Tensor expo = Tensor.uniform(r, -2, 2, 3, 45);
        Tensor a = Tensor.randn(r, 40, 37), b = Tensor.randn(r, 37, 50), bt = Tensor.randn(r, 50, 37);
        Tensor sa = Tensor.randn(r, 5, 7), sb = Tensor.randn(r, 7, 9), wt = Tensor.randn(r, 70, 130), rows = Tensor.randn(r, 5, 130);
        Tensor vec = Tensor.randn(r, 1, 45), mat = Tensor.randn(r, 45, 33), col = Tensor.randn(r, 45, 1), tall = Tensor.randn(r, 33, 45);
        Tensor half = Tensor.randn(r, 33, 45).to(DType.BF16), two = Tensor.randn(r, 2, 45);
        // attention: 1 batch, 9 tokens, 4 query heads in 2 groups, head dim 6
        Tensor q = Tensor.randn(r, 1, 9, 4, 6), k = Tensor.randn(r, 1, 9, 2, 6), v = Tensor.randn(r, 1, 9, 2, 6), dO = Tensor.randn(r, 1, 9, 4, 6);
        Tensor heads = Tensor.randn(r, 9, 3, 34);
        Rope interleaved = new Rope(34, 10000, Rope.Layout.INTERLEAVED), halfRope = new Rope(34, 10000, Rope.Layout.HALF);
        float scale = (float) (1 / Math.sqrt(6));
        Tensor prefill = Tensor.randn(r, 37, 45);
        int[] codes = new int[33 * 70];
        for (int i = 0; i < codes.length; i++) codes[i] = r.nextInt(16);
        float[] packedScales = new float[33 * 3], packedZeros = new float[33 * 3];
        for (int i = 0; i < packedScales.length; i++) { packedScales[i] = 0.01f + r.nextFloat(); packedZeros[i] = r.nextInt(16); }
        PackedMatrix packed = PackedMatrix.ofCodes(codes, 33, 70, 4, 32, false, packedScales, packedZeros);
        float[] tokens = Tensor.randn(r, 37, 70).toFloatArray();

        Map<String, Supplier<int[]>> c = new LinkedHashMap<>();
        c.put("exp", () -> bits(x.exp()));
        c.put("log", () -> bits(pos.log()));
        c.put("tanh", () -> bits(x.tanh()));
        c.put("sigmoid", () -> bits(x.sigmoid()));
        c.put("silu", () -> bits(x.silu()));
        c.put("rsqrt", () -> bits(pos.rsqrt()));
        c.put("pow scalar", () -> bits(pos.pow(1.7f)));
        c.put("pow tensor", () -> bits(pos.pow(expo)));
        c.put("softmax", () -> bits(x.softmax(-1)));
        c.put("logSoftmax", () -> bits(x.logSoftmax(-1)));
        c.put("softmax columns", () -> bits(x.softmax(0)));
        c.put("rmsNorm", () -> bits(x.rmsNorm(w, 1e-5f)));
        c.put("sum rows", () -> bits(x.sum(1)));
        c.put("mean all", () -> bits(x.mean()));
        c.put("var rows", () -> bits(x.var(1, false, true)));
        c.put("logsumexp rows", () -> bits(x.logsumexp(1, false)));
        c.put("sum columns", () -> bits(x.sum(0)));
        c.put("logsumexp columns", () -> bits(x.logsumexp(0, false)));
        c.put("matmul blocked", () -> bits(a.matmul(b)));
        c.put("matmul blocked times Wt", () -> bits(a.matmul(bt.transpose(0, 1))));
        c.put("matmul small", () -> bits(sa.matmul(sb)));
        c.put("matmul few rows times Wt", () -> bits(rows.matmul(wt.transpose(0, 1))));
        c.put("gemv row times matrix", () -> bits(vec.matmul(mat)));
        c.put("gemv matrix times column", () -> bits(tall.matmul(col)));
        c.put("gemv row times Wt", () -> bits(vec.matmul(tall.transpose(0, 1))));
        c.put("bf16 gemv", () -> bits(two.matmul(half.transpose(0, 1))));
        c.put("bf16 prefill", () -> bits(prefill.matmul(half.transpose(0, 1))));
        c.put("packed gemv", () -> {
            float[] y = new float[33];
            PackedGemv.gemv(packed, tokens, 0, y, 0, 2);
            return floatBits(y);
        });
        c.put("packed gemm", () -> {
            float[] y = new float[37 * 33];
            PackedGemv.gemm(tokens, 0, 37, packed, y, 0, 2);
            return floatBits(y);
        });
        c.put("packed int8 gemm", () -> {
            float[] y = new float[3 * 33];
            Int8Gemm.gemm(Int8Rows.quantize(tokens, 0, 3, 70, false), packed, y, 0, 2);
            return floatBits(y);
        });
        c.put("swiglu", () -> bits(x.swiglu(u)));
        c.put("swiglu backward", () -> {
            Backward.SwigluGradients d = Backward.swiglu(x, u, g);
            return bits(d.dGate(), d.dUp());
        });
        c.put("silu backward", () -> bits(Backward.silu(x, g)));
        c.put("softmax backward", () -> bits(Backward.softmax(x.softmax(-1), g, -1)));
        c.put("rmsNorm backward", () -> {
            Backward.RmsNormGradients d = Backward.rmsNorm(x, w, 1e-5f, g);
            return bits(d.dx(), d.dWeight());
        });
        c.put("rope interleaved", () -> bits(interleaved.apply(heads, 3)));
        c.put("rope half", () -> bits(halfRope.apply(heads, 3)));
        c.put("attention", () -> {
            Attention.Output o = Attention.forward(q, k, v, Tensor.causalMask(9, 9), scale);
            Attention.Gradients d = Attention.backward(q, k, v, o.probs(), dO, scale);
            return bits(o.out(), o.probs(), d.dq(), d.dk(), d.dv());
        });
        return c;
    }

    /** The raw bits of the tensors' elements, one after the other. */
    static int[] bits(Tensor... ts) {
        int n = 0;
        for (Tensor t : ts) n += t.numel();
        int[] out = new int[n];
        int at = 0;
        for (Tensor t : ts)
            for (float f : t.toFloatArray()) out[at++] = Float.floatToRawIntBits(f);
        return out;
    }

    static int[] floatBits(float[] v) {
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) out[i] = Float.floatToRawIntBits(v[i]);
        return out;
    }

    /** FNV-1a over the bits: enough to tell two results apart. */
    static long hash(int[] bits) {
        long h = 0xcbf29ce484222325L;
        for (int b : bits) h = (h ^ b) * 0x100000001b3L;
        return h;
    }

    /**
     * Prints {@code name=hash} for every case's first call. With the arguments {@code repeat N}, then calls every
     * case N more times, prints {@code changed name call} for each call whose bits differ from the first, and at
     * the end {@code last name=hash} for every case's last call.
     */
    public static void main(String[] args) {
        Map<String, Supplier<int[]>> cases = all();
        Map<String, int[]> first = new LinkedHashMap<>();
        cases.forEach((name, c) -> first.put(name, c.get()));
        first.forEach((name, bits) -> System.out.println(name + "=" + Long.toHexString(hash(bits))));
        int rounds = args.length == 2 && args[0].equals("repeat") ? Integer.parseInt(args[1]) : 0;
        Map<String, int[]> last = new LinkedHashMap<>(first);
        for (int round = 0; round < rounds; round++)
            for (Map.Entry<String, Supplier<int[]>> e : cases.entrySet()) {
                int[] bits = e.getValue().get();
                if (!Arrays.equals(bits, first.get(e.getKey()))) System.out.println("changed " + e.getKey() + " " + (round + 2));
                last.put(e.getKey(), bits);
            }
        if (rounds > 0) last.forEach((name, bits) -> System.out.println("last " + name + "=" + Long.toHexString(hash(bits))));
    }
}
