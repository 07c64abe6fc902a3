package dev.stiefel.quant.transform;

import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.F64Llama;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The equivalence check every transform test uses, and two random models to run it on: GQA with Hadamard orders that
 * need Paley blocks (dim 48 = 4·12, hidden 40 = 2·20, headDim 12), untied, rotate-half RoPE; and MQA with orders that
 * have no Hadamard matrix (dim 30, hidden 26, headDim 10, 3 heads: the random-orthogonal fallback), tied, interleaved
 * RoPE.
 */
public final class EquivalenceCheck {
    private EquivalenceCheck() {}

    public static final LlamaConfig GQA = RandomModels.config(48, 40, 2, 4, 2, 37, Rope.Layout.HALF, false);
    public static final LlamaConfig ODD = RandomModels.config(30, 26, 2, 3, 1, 29, Rope.Layout.INTERLEAVED, true);

    /**
     * The logits of fp and of fp with {@code ts} fused agree: in f64 ({@link F64Llama} on the exact fused weights
     * with the online parts, against the original weights) to 1e-8 absolute, and in f32 (the model's forward on the
     * rounded weights with its hooks) to 1e-4 of the largest logit, on random tokens. Folded block by block
     * ({@link Transforms#fuseBlockwise}), the weights are the same bit for bit, and so are the logits with the online parts. Returns the
     * fused model.
     */
    public static Transforms.Fused assertEquivalent(LlamaWeights fp, List<? extends Transform> ts, Random rnd) {
        LlamaConfig c = fp.config();
        Transforms.Fused fused = Transforms.fuse(fp, ts);
        int[] tokens = RandomModels.tokens(rnd, 11, c.vocabSize());
        double[][] ref = f64Logits(DoubleWeights.of(fp), List.of(), tokens);
        double[][] got = f64Logits(fused.exact(), fused.online(), tokens);
        assertThat(F64Llama.maxAbs(ref)).as("logits are not trivially small").isGreaterThan(0.5);
        assertThat(F64Llama.maxAbsDiff(ref, got)).as("f64 max |Δlogit| of %s", fused.steps()).isLessThan(1e-8);

        Tensor ids = Tensor.ofInts(concat(tokens, RandomModels.tokens(rnd, 11, c.vocabSize())), 2, 11);
        Transforms.Difference d = Transforms.compare(new LlamaModel(fp), fused.model(), List.of(ids));
        assertThat(d.relative()).as("f32 %s: %s", fused.steps(), d).isLessThan(1e-4);

        Transforms.Fused blockwise = Transforms.fuseBlockwise(fp, ts, java.nio.file.Path.of(System.getProperty("java.io.tmpdir")), dev.stiefel.llama.Progress.silent());
        assertSameWeights(blockwise.weights(), fused.weights());
        assertThat(blockwise.exact()).isNull();
        assertThat(blockwise.online()).extracting(Online::describe).isEqualTo(fused.online().stream().map(Online::describe).toList());
        assertThat(blockwise.steps()).isEqualTo(fused.steps());
        assertThat(Transforms.compare(fused.model(), blockwise.model(), List.of(ids)).maxAbs()).as("logits, online parts included").isZero();
        return fused;
    }

    /** Every tensor of {@code a} equals {@code b}'s bit for bit (shapes, values, tied head, biases and q/k norms). */
    public static void assertSameWeights(LlamaWeights a, LlamaWeights b) {
        assertThat(a.config()).isEqualTo(b.config());
        assertSame("embedding", a.embedding(), b.embedding());
        assertSame("final norm", a.finalNorm(), b.finalNorm());
        assertSame("head", a.output(), b.output());
        for (int l = 0; l < a.config().layers(); l++) {
            LlamaWeights.Layer x = a.layer(l), y = b.layer(l);
            Tensor[] p = {x.attnNorm(), x.wq(), x.wk(), x.wv(), x.wo(), x.ffnNorm(), x.wGate(), x.wUp(), x.wDown(), x.bq(), x.bk(), x.bv(), x.qNorm(), x.kNorm()};
            Tensor[] q = {y.attnNorm(), y.wq(), y.wk(), y.wv(), y.wo(), y.ffnNorm(), y.wGate(), y.wUp(), y.wDown(), y.bq(), y.bk(), y.bv(), y.qNorm(), y.kNorm()};
            for (int i = 0; i < p.length; i++) assertSame("layer " + l + " tensor " + i, p[i], q[i]);
        }
    }

    private static void assertSame(String what, Tensor a, Tensor b) {
        if (a == null || b == null) {
            assertThat(a == null).as(what + " present on one side only").isEqualTo(b == null);
            return;
        }
        assertThat(a.shape()).as(what).isEqualTo(b.shape());
        float[] x = a.toFloatArray(), y = b.toFloatArray();
        for (int i = 0; i < x.length; i++)
            if (Float.floatToRawIntBits(x[i]) != Float.floatToRawIntBits(y[i]))
                throw new AssertionError(what + " differs at " + i + ": " + x[i] + " vs " + y[i]);
    }

    /**
     * Logits [T][vocab] of one sequence by llama's f64 reference on {@code w}, with the online transforms applied at
     * their sites (each on every row of its {@link Online#rowSize()}, in list order): only f64 rounding in between.
     */
    private static double[] copy(double[] a) { return a == null ? null : a.clone(); }

    static double[][] f64Logits(DoubleWeights w, List<? extends Online> online, int[] tokens) {
        LlamaConfig c = w.config();
        List<F64Llama.Block> blocks = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            F64Llama.Block b = new F64Llama.Block(c, w.norm(l, Input.ATTN_IN).clone(), rows(w.linear(l, Linear.Q)), rows(w.linear(l, Linear.K)),
                    rows(w.linear(l, Linear.V)), rows(w.linear(l, Linear.O)), w.norm(l, Input.MLP_IN).clone(), rows(w.linear(l, Linear.GATE)),
                    rows(w.linear(l, Linear.UP)), rows(w.linear(l, Linear.DOWN)));
            // Qwen2's biases and Qwen3's q/k norm gains, as the transforms left them
            b.bq = copy(w.bias(l, Linear.Q));
            b.bk = copy(w.bias(l, Linear.K));
            b.bv = copy(w.bias(l, Linear.V));
            b.qNorm = copy(w.qkNorm(l, Linear.Q));
            b.kNorm = copy(w.qkNorm(l, Linear.K));
            blocks.add(b);
        }
        F64Llama m = new F64Llama(c, rows(w.embedding()), blocks, w.norm(-1, Input.HEAD_IN).clone(), rows(w.head()));
        return m.logits(tokens, (point, layer, token) -> {
            for (Online o : online)
                if (o.site() == Site.valueOf(point.name()))
                    for (int off = 0; off < token.length; off += o.rowSize()) o.apply(layer, token, off);
        });
    }

    private static double[][] rows(DMatrix m) { return F64Llama.rows(m.data, m.rows, m.cols); }

    private static int[] concat(int[] a, int[] b) {
        int[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
