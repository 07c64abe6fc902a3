package dev.stiefel.quant.omni;

import dev.stiefel.quant.calib.ChannelMaxima;
import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.F64Llama.Block;
import dev.stiefel.llama.testing.F64Llama;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * LET is an equivalence: each of its four pairs, with arbitrary scales, leaves what the block computes unchanged.
 * Checked in f64 (the transformation applied through {@link Let}'s own index maps, the block computed by
 * {@link F64Llama}) to 1e-8 relative, on a grouped-query model in both RoPE layouts, each with a control showing that
 * the constraint (rotary pairs, KV groups) is what makes it exact; and in f32 through the code that folds the scales.
 */
class LetTest {
    private static final int T = 9;

    private static LlamaConfig config(Rope.Layout layout) {
        return RandomModels.config(24, 40, 1, 4, 2, 11, Rope.Layout.HALF, false).withRopeLayout(layout);
    }

    private static LlamaWeights weights(LlamaConfig c) {
        return RandomModels.random(c, 3);
    }

    private static double[] scales(Random rnd, int n) {
        double[] s = new double[n];
        for (int i = 0; i < n; i++) s[i] = Math.exp(0.7 * rnd.nextGaussian());
        return s;
    }

    private static float[] f32(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }

    private static double[][] input(LlamaConfig c) {
        return F64Llama.tokens(Tensor.randn(new Random(17), 1, T, c.dim()));
    }

    // ------------------------------------------------------------ the f64 transformations, through Let's maps

    static void divideGain(double[] gain, double[] s) {
        for (int j = 0; j < gain.length; j++) gain[j] /= s[j];
    }

    static void scaleColumns(double[][] w, double[] s, int[] map) {
        for (double[] row : w) for (int j = 0; j < row.length; j++) row[j] *= s[map == null ? j : map[j]];
    }

    static void divideRows(double[][] w, double[] s, int[] map) {
        for (int r = 0; r < w.length; r++) for (int j = 0; j < w[r].length; j++) w[r][j] /= s[map == null ? r : map[r]];
    }

    static void multiplyRows(double[][] w, double[] s, int[] map) {
        for (int r = 0; r < w.length; r++) for (int j = 0; j < w[r].length; j++) w[r][j] *= s[map == null ? r : map[r]];
    }

    private static int[] identity(int n) {
        int[] m = new int[n];
        for (int i = 0; i < n; i++) m[i] = i;
        return m;
    }

    // ------------------------------------------------------------ the reference itself

    @ParameterizedTest @EnumSource(Rope.Layout.class)
    void theF64ReferenceIsTheModelsBlock(Rope.Layout layout) {
        LlamaConfig c = config(layout);
        LlamaWeights w = weights(c);
        Tensor x = Tensor.randn(new Random(17), 1, T, c.dim());
        double[][] ref = new Block(c, w.layer(0)).forward(F64Llama.tokens(x));
        double[][] got;
        try (var off = Grad.off()) {
            got = F64Llama.tokens(new LlamaModel(w).block(0, Var.of(x), 0, null).value());
        }
        assertThat(F64Llama.relativeDiff(got, ref)).isLessThan(1e-5);
    }

    // ------------------------------------------------------------ one pair at a time, f64

    @ParameterizedTest @EnumSource(Rope.Layout.class)
    void normToQkvScalesKeepTheProjections(Rope.Layout layout) {
        LlamaConfig c = config(layout);
        Block ref = new Block(c, weights(c).layer(0)), t = new Block(c, weights(c).layer(0));
        double[] s = scales(new Random(1), c.dim());
        divideGain(t.attnNorm, s);
        for (double[][] w : List.of(t.wq, t.wk, t.wv)) scaleColumns(w, s, null);
        double[][] x = input(c), h = ref.rmsNorm(x, ref.attnNorm), ht = t.rmsNorm(x, t.attnNorm);
        assertThat(F64Llama.relativeDiff(ht, h)).as("the activation does change").isGreaterThan(0.1);
        for (int i = 0; i < 3; i++) {
            double[][] w = List.of(ref.wq, ref.wk, ref.wv).get(i), wt = List.of(t.wq, t.wk, t.wv).get(i);
            assertThat(F64Llama.relativeDiff(F64Llama.linear(ht, wt), F64Llama.linear(h, w))).isLessThan(1e-8);
        }
        assertThat(F64Llama.relativeDiff(t.forward(x), ref.forward(x))).isLessThan(1e-8);
    }

    @ParameterizedTest @EnumSource(Rope.Layout.class)
    void mlpNormToGateUpScalesKeepTheProjections(Rope.Layout layout) {
        LlamaConfig c = config(layout);
        Block ref = new Block(c, weights(c).layer(0)), t = new Block(c, weights(c).layer(0));
        double[] s = scales(new Random(2), c.dim());
        divideGain(t.ffnNorm, s);
        scaleColumns(t.wGate, s, null);
        scaleColumns(t.wUp, s, null);
        double[][] x = input(c), m = ref.rmsNorm(x, ref.ffnNorm), mt = t.rmsNorm(x, t.ffnNorm);
        assertThat(F64Llama.relativeDiff(F64Llama.linear(mt, t.wGate), F64Llama.linear(m, ref.wGate))).isLessThan(1e-8);
        assertThat(F64Llama.relativeDiff(F64Llama.linear(mt, t.wUp), F64Llama.linear(m, ref.wUp))).isLessThan(1e-8);
        assertThat(F64Llama.relativeDiff(t.forward(x), ref.forward(x))).isLessThan(1e-8);
    }

    /** One scale per rotary pair and KV head keeps q·kᵀ after RoPE; a scale per feature does not. */
    @ParameterizedTest @EnumSource(Rope.Layout.class)
    void queryKeyScalesSharedByRotaryPairsKeepTheScores(Rope.Layout layout) {
        LlamaConfig c = config(layout);
        Block ref = new Block(c, weights(c).layer(0));
        double[][] h = ref.rmsNorm(input(c), ref.attnNorm);
        double[][][] scores = ref.scores(ref.rope(F64Llama.linear(h, ref.wq)), ref.rope(F64Llama.linear(h, ref.wk)));

        double[] pairs = scales(new Random(3), c.kvHeads() * c.headDim() / 2);
        Block t = new Block(c, weights(c).layer(0));
        divideRows(t.wq, pairs, Let.queryRowToPair(c));
        multiplyRows(t.wk, pairs, Let.keyRowToPair(c));
        double[][] q = F64Llama.linear(h, t.wq);
        assertThat(F64Llama.relativeDiff(q, F64Llama.linear(h, ref.wq))).as("the queries do change").isGreaterThan(0.1);
        assertThat(F64Llama.relativeDiff(t.scores(t.rope(q), t.rope(F64Llama.linear(h, t.wk))), scores)).isLessThan(1e-8);
        assertThat(F64Llama.relativeDiff(t.forward(input(c)), ref.forward(input(c)))).isLessThan(1e-8);

        // control: a scale per K feature (the two features of a pair differ) breaks the equivalence through RoPE
        double[] perFeature = scales(new Random(4), c.kvDim());
        int[] qToK = new int[c.qDim()];
        for (int r = 0; r < c.qDim(); r++) qToK[r] = (r / c.headDim() / c.groupSize()) * c.headDim() + r % c.headDim();
        Block u = new Block(c, weights(c).layer(0));
        divideRows(u.wq, perFeature, qToK);
        multiplyRows(u.wk, perFeature, null);
        assertThat(F64Llama.relativeDiff(u.scores(u.rope(F64Llama.linear(h, u.wq)), u.rope(F64Llama.linear(h, u.wk))), scores))
                .isGreaterThan(1e-3);
    }

    /** One scale per V feature, shared by the query heads of its group in Wo's columns, keeps the attention output. */
    @ParameterizedTest @EnumSource(Rope.Layout.class)
    void valueOutputScalesSharedByAGroupKeepTheOutput(Rope.Layout layout) {
        LlamaConfig c = config(layout);
        Block ref = new Block(c, weights(c).layer(0));
        double[][] x = input(c), h = ref.rmsNorm(x, ref.attnNorm);
        double[][][] sc = ref.scores(ref.rope(F64Llama.linear(h, ref.wq)), ref.rope(F64Llama.linear(h, ref.wk)));
        double[][] out = F64Llama.linear(ref.heads(sc, F64Llama.linear(h, ref.wv)), ref.wo);

        double[] s = scales(new Random(5), c.kvDim());
        Block t = new Block(c, weights(c).layer(0));
        divideRows(t.wv, s, null);
        scaleColumns(t.wo, s, Let.outputColumnToValue(c));
        double[][] heads = t.heads(sc, F64Llama.linear(h, t.wv));
        assertThat(F64Llama.relativeDiff(heads, ref.heads(sc, F64Llama.linear(h, ref.wv)))).as("o_proj's input does change").isGreaterThan(0.1);
        assertThat(F64Llama.relativeDiff(F64Llama.linear(heads, t.wo), out)).isLessThan(1e-8);
        assertThat(F64Llama.relativeDiff(t.forward(x), ref.forward(x))).isLessThan(1e-8);

        // control: Wo's columns scaled as if each query head had its own values (the map of an MHA model)
        Block u = new Block(c, weights(c).layer(0));
        double[] perQuery = new double[c.qDim()];
        for (int j = 0; j < c.qDim(); j++) perQuery[j] = s[j % c.kvDim()];
        divideRows(u.wv, s, null);
        scaleColumns(u.wo, perQuery, identity(c.qDim()));
        assertThat(F64Llama.relativeDiff(F64Llama.linear(u.heads(sc, F64Llama.linear(h, u.wv)), u.wo), out)).isGreaterThan(1e-3);
    }

    @ParameterizedTest @EnumSource(Rope.Layout.class)
    void allFourPairsTogetherKeepTheBlock(Rope.Layout layout) {
        LlamaConfig c = config(layout);
        Block ref = new Block(c, weights(c).layer(0)), t = new Block(c, weights(c).layer(0));
        Random rnd = new Random(6);
        double[] sa = scales(rnd, c.dim()), sm = scales(rnd, c.dim()), so = scales(rnd, c.kvDim()), sqk = scales(rnd, c.kvHeads() * c.headDim() / 2);
        applyAll(c, t, sa, sm, so, sqk);
        double[][] x = input(c);
        assertThat(F64Llama.relativeDiff(t.forward(x), ref.forward(x))).isLessThan(1e-8);
    }

    static void applyAll(LlamaConfig c, Block t, double[] sa, double[] sm, double[] so, double[] sqk) {
        divideGain(t.attnNorm, sa);
        for (double[][] w : List.of(t.wq, t.wk, t.wv)) scaleColumns(w, sa, null);
        divideRows(t.wq, sqk, Let.queryRowToPair(c));
        multiplyRows(t.wk, sqk, Let.keyRowToPair(c));
        divideRows(t.wv, so, null);
        scaleColumns(t.wo, so, Let.outputColumnToValue(c));
        divideGain(t.ffnNorm, sm);
        scaleColumns(t.wGate, sm, null);
        scaleColumns(t.wUp, sm, null);
    }

    // ------------------------------------------------------------ the f32 code

    /**
     * The code path that trains (scales applied on the fly by the hooks) and the one that ships (scales folded into the
     * norms and weights by {@link BlockHooks#fold}) both compute the full-precision block, to f32 accuracy; the folded
     * weights are also the f64 transformation's, rounded once.
     */
    @ParameterizedTest @EnumSource(Rope.Layout.class)
    void foldedAndOnTheFlyScalesKeepTheBlockInF32(Rope.Layout layout) {
        LlamaConfig c = config(layout);
        LlamaWeights w = weights(c);
        Random rnd = new Random(7);
        double[] sa = scales(rnd, c.dim()), sm = scales(rnd, c.dim()), so = scales(rnd, c.kvDim()), sqk = scales(rnd, c.kvHeads() * c.headDim() / 2);
        Let let = Let.of(c, f32(sa), f32(sm), f32(so), f32(sqk));
        BlockHooks hooks = new BlockHooks(0, let, Map.of(), null, null, null, null);
        Tensor x = Tensor.randn(new Random(17), 1, T, c.dim());
        double[][] ref = new Block(c, w.layer(0)).forward(F64Llama.tokens(x));
        LlamaWeights.Layer folded = hooks.fold(w.layer(0));
        try (var off = Grad.off()) {
            double[][] fly = F64Llama.tokens(new LlamaModel(w, hooks).block(0, Var.of(x), 0, null).value());
            double[][] shipped = F64Llama.tokens(new LlamaModel(RandomModels.withLayers(w, List.of(folded))).block(0, Var.of(x), 0, null).value());
            assertThat(F64Llama.relativeDiff(fly, ref)).isLessThan(1e-5);
            assertThat(F64Llama.relativeDiff(shipped, ref)).isLessThan(1e-5);
        }
        // the folded tensors are the f64 transformation of the same scales
        Block t = new Block(c, w.layer(0));
        applyAll(c, t, toDouble(let.attn()), toDouble(let.mlp()), toDouble(let.out()), toDouble(let.qk()));
        Block f = new Block(c, folded);
        assertThat(maxRel(f.wq, t.wq)).isLessThan(1e-6);
        assertThat(maxRel(f.wk, t.wk)).isLessThan(1e-6);
        assertThat(maxRel(f.wv, t.wv)).isLessThan(1e-6);
        assertThat(maxRel(f.wo, t.wo)).isLessThan(1e-6);
        assertThat(maxRel(f.wUp, t.wUp)).isLessThan(1e-6);
        assertThat(maxRel(new double[][]{f.attnNorm}, new double[][]{t.attnNorm})).isLessThan(1e-6);
        assertThat(maxRel(new double[][]{f.ffnNorm}, new double[][]{t.ffnNorm})).isLessThan(1e-6);
        assertThat(f.wDown).isDeepEqualTo(t.wDown);
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    /** Largest element-wise relative difference. */
    private static double maxRel(double[][] a, double[][] b) {
        double worst = 0;
        for (int r = 0; r < a.length; r++)
            for (int j = 0; j < a[r].length; j++) worst = Math.max(worst, Math.abs(a[r][j] - b[r][j]) / Math.abs(b[r][j]));
        return worst;
    }

    // ------------------------------------------------------------ initialisation and truncation

    @Test void smoothQuantInitialisationFromChannelMaximaAndWeights() {
        LlamaConfig c = config(Rope.Layout.HALF);
        LlamaWeights w = weights(c);
        ChannelMaxima maxima = new ChannelMaxima(0);
        Tensor x = Tensor.randn(new Random(8), 1, T, c.dim());
        try (var off = Grad.off()) {
            new LlamaModel(w, maxima).block(0, Var.of(x), 0, null);
        }
        double alpha = 0.4;
        Let let = Let.smoothQuant(c, w.layer(0), maxima, alpha);
        Block b = new Block(c, w.layer(0));
        double[][] h = b.rmsNorm(F64Llama.tokens(x), b.attnNorm);
        float[] attn = let.attn();
        for (int j = 0; j < c.dim(); j++) {
            double a = 0, wmax = 0;
            for (double[] row : h) a = Math.max(a, Math.abs(row[j]));
            for (double[][] m : List.of(b.wq, b.wk, b.wv)) for (double[] row : m) wmax = Math.max(wmax, Math.abs(row[j]));
            assertThat((double) attn[j]).as("attn scale %d", j).isCloseTo(Math.pow(a, alpha) / Math.pow(wmax, 1 - alpha), org.assertj.core.data.Percentage.withPercentage(1e-3));
        }
        // out: a V feature's activation and weight maxima are taken over the query heads of its group
        float[] heads = maxima.get(Input.ATTN_OUT), out = let.out();
        int[] toV = Let.outputColumnToValue(c);
        for (int v = 0; v < c.kvDim(); v++) {
            double a = 0, wmax = 0;
            for (int j = 0; j < c.qDim(); j++)
                if (toV[j] == v) {
                    a = Math.max(a, heads[j]);
                    for (double[] row : b.wo) wmax = Math.max(wmax, Math.abs(row[j]));
                }
            assertThat((double) out[v]).as("out scale %d", v).isCloseTo(Math.pow(a, alpha) / Math.pow(wmax, 1 - alpha), org.assertj.core.data.Percentage.withPercentage(1e-3));
        }
        assertThat(let.qk()).containsOnly(1f);
    }

    @Test void truncationPushesSmallScalesOutToOneHundredthKeepingTheirSign() {
        LlamaConfig c = config(Rope.Layout.HALF);
        float[] attn = new float[c.dim()];
        java.util.Arrays.fill(attn, 2f);
        attn[0] = 0.003f;
        attn[1] = -0.004f;
        attn[2] = -0.5f;
        Let let = Let.of(c, attn, attn, fill(c.kvDim(), 1f), fill(c.kvHeads() * c.headDim() / 2, 1f));
        assertThat(let.attn()[0]).isEqualTo(0.01f);
        assertThat(let.attn()[1]).isEqualTo(-0.01f);
        assertThat(let.attn()[2]).isEqualTo(-0.5f);
        assertThat(let.attn()[3]).isEqualTo(2f);
    }

    private static float[] fill(int n, float v) {
        float[] f = new float[n];
        java.util.Arrays.fill(f, v);
        return f;
    }

    /**
     * LET on Qwen. Its pairs are the f64 transforms ChannelScaling ATTN_IN / MLP_IN / V_O and (Qwen2 only) QkScaling with
     * s = 1/qk, which carry the q/k/v biases and are checked exact in f64 here; {@link BlockHooks#fold} (the f32 code
     * OmniQuant runs) gives those same weights, biases included, up to f32 rounding. On Qwen3 the Q→K scales are not
     * learned (the per-head q/k norm would undo them): they are left out of the parameters and of the fold, and reported.
     */
    @ParameterizedTest
    @EnumSource(value = LlamaConfig.Architecture.class, names = {"QWEN2", "QWEN3"})
    void onQwenLetIsTheExactScalingPipelineBiasesIncluded(LlamaConfig.Architecture arch) {
        LlamaConfig c = RandomModels.qwen(RandomModels.config(24, 40, 2, 4, 2, 11, Rope.Layout.HALF, false), arch);
        LlamaWeights fp = RandomModels.random(c, 3);
        Random rnd = new Random(5);
        int layers = c.layers();
        double[][] attn = new double[layers][], mlp = new double[layers][], out = new double[layers][], qk = new double[layers][], sQ = new double[layers][];
        int[] keyPair = Let.keyRowToPair(c);
        List<LlamaWeights.Layer> folded = new java.util.ArrayList<>();
        for (int l = 0; l < layers; l++) {
            attn[l] = scales(rnd, c.dim());
            mlp[l] = scales(rnd, c.dim());
            out[l] = scales(rnd, c.kvDim());
            qk[l] = scales(rnd, c.kvHeads() * c.headDim() / 2);
            sQ[l] = new double[c.kvDim()];
            for (int j = 0; j < c.kvDim(); j++) sQ[l][j] = 1 / (double) (float) qk[l][keyPair[j]];
            Let let = Let.of(c, f32(attn[l]), f32(mlp[l]), f32(out[l]), f32(qk[l]));
            assertThat(let.parameters()).hasSize(arch.qkNorm() ? 3 : 4);
            assertThat(let.skipped()).hasSize(arch.qkNorm() ? 1 : 0);
            folded.add(new BlockHooks(l, let, Map.of(), null, null, null, null).fold(fp.layer(l)));
        }
        List<dev.stiefel.quant.transform.Transform> pipeline = new java.util.ArrayList<>(List.of(
                new dev.stiefel.quant.transform.ChannelScaling(dev.stiefel.quant.transform.ChannelScaling.Between.ATTN_IN, roundedToF32(attn)),
                new dev.stiefel.quant.transform.ChannelScaling(dev.stiefel.quant.transform.ChannelScaling.Between.MLP_IN, roundedToF32(mlp)),
                new dev.stiefel.quant.transform.ChannelScaling(dev.stiefel.quant.transform.ChannelScaling.Between.V_O, roundedToF32(out))));
        if (!arch.qkNorm()) pipeline.add(new dev.stiefel.quant.transform.QkScaling(sQ));
        var fused = dev.stiefel.quant.transform.EquivalenceCheck.assertEquivalent(fp, pipeline, rnd);
        LlamaWeights let = new LlamaWeights(c, fp.embedding(), folded, fp.finalNorm(), fp.output(), List.of());
        List<Tensor> a = let.tensors(), b = fused.weights().tensors();
        assertThat(a).hasSameSizeAs(b);
        for (int i = 0; i < a.size(); i++) {
            float[] x = a.get(i).toFloatArray(), y = b.get(i).toFloatArray();
            double worst = 0, scale = 0;
            for (int j = 0; j < x.length; j++) { worst = Math.max(worst, Math.abs(x[j] - y[j])); scale = Math.max(scale, Math.abs(y[j])); }
            assertThat(worst).as("tensor %d", i).isLessThanOrEqualTo(1e-5 * scale);
        }
        if (arch.qkvBias()) assertThat(let.layer(0).bv().maxAbsDiff(fp.layer(0).bv())).as("b_v scaled").isGreaterThan(1e-3);
    }

    private static double[][] roundedToF32(double[][] s) {
        double[][] r = new double[s.length][];
        for (int l = 0; l < s.length; l++) {
            r[l] = new double[s[l].length];
            for (int j = 0; j < r[l].length; j++) r[l][j] = (float) s[l][j];
        }
        return r;
    }
}
