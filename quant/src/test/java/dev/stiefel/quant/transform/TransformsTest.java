package dev.stiefel.quant.transform;

import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.F64Llama;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.Linears;
import dev.stiefel.quant.transform.ChannelScaling.Between;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Every transform alone leaves the model's logits unchanged ({@link EquivalenceCheck}: 1e-8 in f64, 1e-4 relative in
 * f32) on both of its random models; the rotations agree with their f64 matrices; a wrong fold is caught.
 */
class TransformsTest {
    static final LlamaConfig GQA = EquivalenceCheck.GQA, ODD = EquivalenceCheck.ODD;

    private final Random rnd = new Random(17);

    private static Transforms.Fused assertEquivalent(LlamaWeights fp, List<? extends Transform> ts, Random rnd) {
        return EquivalenceCheck.assertEquivalent(fp, ts, rnd);
    }

    /** How much a linear moved: max |W' − W|. */
    private static double moved(LlamaWeights a, LlamaWeights b, int layer, Linear which) {
        return Linears.weight(a, layer, which).maxAbsDiff(Linears.weight(b, layer, which));
    }

    /**
     * fuseWithin folds in memory (an f64 model) while the f64 copy fits the bound, block by block into mapped scratch
     * files (no f64 model) past it; both give the same weights (EquivalenceCheck shows that for every transform).
     */
    @Test void fuseWithinFoldsBlockByBlockPastTheBound() {
        LlamaWeights fp = RandomModels.random(GQA, 7);
        List<Transform> ts = List.of(NormFold.all(), ResidualRotation.randomHadamard(GQA.dim(), 3));
        Transforms.Fused inMemory = Transforms.fuseWithin(fp, ts, dev.stiefel.llama.Progress.silent());
        assertThat(inMemory.exact()).isNotNull();
        Transforms.Fused blockwise = dev.stiefel.quant.MemoryPolicy.rules().withFuseBlockwiseAbove(0L)
                .call(() -> Transforms.fuseWithin(fp, ts, dev.stiefel.llama.Progress.silent()));
        assertThat(blockwise.exact()).isNull();
        assertThat(blockwise.weights().layer(1).wDown().storage()).isInstanceOf(dev.stiefel.tensor.MappedStorage.class);
        assertThat(blockwise.weights().output().storage()).isInstanceOf(dev.stiefel.tensor.MappedStorage.class);
        EquivalenceCheck.assertSameWeights(blockwise.weights(), inMemory.weights());
    }

    @Test void normFoldLeavesGainFreeNormsAndUntiesATiedHead() {
        for (LlamaConfig c : List.of(GQA, ODD)) {
            LlamaWeights fp = RandomModels.random(c, 3);
            Transforms.Fused f = assertEquivalent(fp, List.of(NormFold.all()), rnd);
            for (int l = 0; l < c.layers(); l++) {
                assertThat(f.weights().layer(l).attnNorm().toFloatArray()).containsOnly(1f);
                assertThat(f.weights().layer(l).ffnNorm().toFloatArray()).containsOnly(1f);
                assertThat(moved(fp, f.weights(), l, Linear.GATE)).isGreaterThan(1e-3);
            }
            assertThat(f.weights().finalNorm().toFloatArray()).containsOnly(1f);
            assertThat(f.weights().config().tiedEmbeddings()).isFalse();
            assertThat(f.weights().embedding().toFloatArray()).isEqualTo(fp.embedding().toFloatArray());
        }
    }

    @Test void residualRotationNeedsGainFreeNormsAndThenKeepsLogits() {
        for (LlamaConfig c : List.of(GQA, ODD)) {
            LlamaWeights fp = RandomModels.random(c, 4);
            assertThatThrownBy(() -> Transforms.fuse(fp, List.of(ResidualRotation.randomHadamard(c.dim(), 1))))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("fold the norms first");
            Transforms.Fused f = assertEquivalent(fp, List.of(NormFold.all(), ResidualRotation.randomHadamard(c.dim(), 1)), rnd);
            assertThat(f.weights().embedding().maxAbsDiff(fp.embedding())).isGreaterThan(0.1);
            assertThat(moved(fp, f.weights(), 1, Linear.O)).isGreaterThan(1e-3);
        }
        // a tied pair with uniform gains stays tied and rotates as one
        LlamaWeights tied = RandomModels.random(ODD, 5);
        Transforms.Fused f = assertEquivalent(tied, List.of(new NormFold(java.util.Set.of(Input.ATTN_IN, Input.MLP_IN)),
                new ChannelScaling(Between.HEAD_IN, new double[][]{inverse(tied.finalNorm())}), ResidualRotation.randomHadamard(ODD.dim(), 2)), rnd);
        assertThat(f.exact().tied()).isFalse(); // the head's scaling untied it: each side rotated on its own
    }

    private static double[] inverse(Tensor gain) {
        float[] g = gain.toFloatArray();
        double[] s = new double[g.length];
        for (int i = 0; i < g.length; i++) s[i] = g[i]; // g / s = 1: the final norm becomes gain-free through a scaling
        return s;
    }

    @Test void perHeadRotationOfVAndOKeepsLogitsWithGqaAndMqa() {
        for (LlamaConfig c : List.of(GQA, ODD)) {
            LlamaWeights fp = RandomModels.random(c, 6);
            Transforms.Fused f = assertEquivalent(fp, List.of(HeadRotation.hadamard(c)), rnd);
            assertThat(moved(fp, f.weights(), 0, Linear.V)).isGreaterThan(1e-3);
            assertThat(moved(fp, f.weights(), 0, Linear.O)).isGreaterThan(1e-3);
            assertThat(moved(fp, f.weights(), 0, Linear.Q)).isZero();
            // a different random rotation in each layer (SpinQuant's R2 is per layer)
            Rotation[] perLayer = new Rotation[c.layers()];
            for (int l = 0; l < c.layers(); l++) perLayer[l] = Rotation.randomOrthogonal(c.headDim(), 10 + l);
            assertEquivalent(fp, List.of(new HeadRotation(perLayer)), rnd);
        }
    }

    @Test void onlineRotationsAtDownProjAndAcrossHeadsKeepLogits() {
        for (LlamaConfig c : List.of(GQA, ODD)) {
            LlamaWeights fp = RandomModels.random(c, 7);
            Transforms.Fused f = assertEquivalent(fp, List.of(OnlineRotation.downProj(c)), rnd);
            assertThat(f.online()).hasSize(1);
            assertThat(moved(fp, f.weights(), 1, Linear.DOWN)).isGreaterThan(1e-3);
            assertEquivalent(fp, List.of(OnlineRotation.acrossHeads(c)), rnd);
            assertEquivalent(fp, List.of(HeadRotation.hadamard(c), OnlineRotation.acrossHeads(c)), rnd);
            // at a norm's output too (FlatQuant-style online transforms before q/k/v)
            assertEquivalent(fp, List.of(new OnlineRotation(Input.ATTN_IN, Rotation.randomHadamard(c.dim(), 3))), rnd);
        }
    }

    @Test void onlineQkRotationKeepsAttentionScores() {
        for (LlamaConfig c : List.of(GQA, ODD)) {
            LlamaWeights fp = RandomModels.random(c, 8);
            Transforms.Fused f = assertEquivalent(fp, List.of(QkRotation.hadamard(c.headDim())), rnd);
            assertThat(f.online()).extracting(Online::site).containsExactly(Site.QUERY, Site.KEY);
        }
    }

    @Test void channelScalingsBetweenNormsAndLinearsVAndOUpAndDownKeepLogits() {
        for (LlamaConfig c : List.of(GQA, ODD))
            for (Between b : Between.values()) {
                LlamaWeights fp = RandomModels.random(c, 9);
                int layers = b == Between.HEAD_IN ? 1 : c.layers();
                double[][] s = new double[layers][];
                for (int l = 0; l < layers; l++) {
                    if (l == 1) continue; // a layer left alone
                    s[l] = new double[ChannelScaling.channels(c, b)];
                    for (int j = 0; j < s[l].length; j++) s[l][j] = Math.exp(2 * rnd.nextGaussian());
                }
                assertEquivalent(fp, List.of(new ChannelScaling(b, s)), rnd);
            }
        assertThatThrownBy(() -> new ChannelScaling(Between.UP_DOWN, new double[][]{{1, 0}})).hasMessageContaining("positive");
    }

    /**
     * Every transform on Qwen2 (q/k/v biases: rotations and scalings of v_proj's outputs act on b_v, those of q/k on b_q
     * and b_k, input-side ones leave them) and Qwen3 (per-head q/k RMSNorm before RoPE: nothing may scale q_proj/k_proj
     * rows, so Q/K scaling is refused; rotations after RoPE and on V/O are exact), on both random models.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = LlamaConfig.Architecture.class, names = {"QWEN2", "QWEN3"})
    void everyTransformKeepsQwenLogits(LlamaConfig.Architecture arch) {
        for (LlamaConfig base : List.of(GQA, ODD)) {
            LlamaConfig c = RandomModels.qwen(base, arch);
            LlamaWeights fp = RandomModels.random(c, 21);
            assertEquivalent(fp, List.of(NormFold.all(), ResidualRotation.randomHadamard(c.dim(), 1)), rnd);
            Transforms.Fused head = assertEquivalent(fp, List.of(HeadRotation.hadamard(c)), rnd);
            if (arch.qkvBias()) assertThat(head.weights().layer(0).bv().maxAbsDiff(fp.layer(0).bv())).as("b_v rotated").isGreaterThan(1e-3);
            Rotation[] perLayer = new Rotation[c.layers()];
            for (int l = 0; l < c.layers(); l++) perLayer[l] = Rotation.randomOrthogonal(c.headDim(), 10 + l);
            assertEquivalent(fp, List.of(new HeadRotation(perLayer), OnlineRotation.acrossHeads(c), OnlineRotation.downProj(c)), rnd);
            assertEquivalent(fp, List.of(new OnlineRotation(Input.ATTN_IN, Rotation.randomHadamard(c.dim(), 3)), QkRotation.hadamard(c.headDim())), rnd);
            for (Between b : Between.values()) {
                int layers = b == Between.HEAD_IN ? 1 : c.layers();
                double[][] s = new double[layers][];
                for (int l = 0; l < layers; l++) {
                    s[l] = new double[ChannelScaling.channels(c, b)];
                    for (int j = 0; j < s[l].length; j++) s[l][j] = Math.exp(rnd.nextGaussian());
                }
                assertEquivalent(fp, List.of(new ChannelScaling(b, s)), rnd);
            }
            double[][] qk = new double[c.layers()][c.kvDim()];
            for (double[] s : qk)
                for (int h = 0; h < c.kvHeads(); h++)
                    for (int i = 0; i < c.headDim() / 2; i++) {
                        double v = Math.exp(rnd.nextGaussian());
                        s[h * c.headDim() + QkScaling.partner(c.ropeLayout(), c.headDim(), i, 0)] = v;
                        s[h * c.headDim() + QkScaling.partner(c.ropeLayout(), c.headDim(), i, 1)] = v;
                    }
            if (arch.qkNorm())
                assertThatThrownBy(() -> Transforms.fuse(fp, List.of(new QkScaling(qk)))).hasMessageContaining("q_norm");
            else
                assertEquivalent(fp, List.of(new QkScaling(qk)), rnd);
        }
    }

    @Test void aBrokenFoldIsCaught() {
        // the check can fail: rotating the embedding alone changes the model
        LlamaWeights fp = RandomModels.random(GQA, 10);
        Rotation q = Rotation.randomHadamard(GQA.dim(), 1);
        Transform embeddingOnly = new Transform() {
            @Override public String describe() { return "embedding only"; }
            @Override public void fold(DoubleWeights w) { w.setEmbedding(Folds.timesRotation(w.embedding(), q, "embedding")); }
        };
        Transforms.Fused f = Transforms.fuse(fp, List.of(NormFold.all(), embeddingOnly));
        int[] tokens = RandomModels.tokens(rnd, 7, GQA.vocabSize());
        double d = F64Llama.maxAbsDiff(EquivalenceCheck.f64Logits(DoubleWeights.of(fp), List.of(), tokens), EquivalenceCheck.f64Logits(f.exact(), f.online(), tokens));
        assertThat(d).isGreaterThan(0.01);
        assertThat(Transforms.compare(new LlamaModel(fp), f.model(), List.of(Tensor.ofInts(tokens, 1, 7))).relative()).isGreaterThan(0.01);
    }

    @Test void rotationsAreOrthogonalAndTheirF32AndF64FormsAgree() {
        List<Rotation> all = List.of(Rotation.hadamard(40), Rotation.hadamard(64), Rotation.randomHadamard(48, 3), Rotation.hadamard(10),
                Rotation.randomHadamard(26, 4), Rotation.acrossBlocks(Rotation.hadamard(4), 12), Rotation.acrossBlocks(Rotation.randomHadamard(3, 1), 5),
                Rotation.dense(Linalg.randomOrthogonal(7, new Random(2)), "random 7"));
        for (Rotation r : all) {
            int n = r.size();
            DMatrix m = r.matrix();
            assertThat(Linalg.orthogonalityError(m)).as(r.describe()).isLessThan(1e-12);
            Tensor x = Tensor.randn(rnd, 3, 5, n);
            DMatrix xd = x.reshape(15, n).toDMatrix();
            DMatrix want = xd.multiply(m), wantT = xd.multiply(m.transpose());
            assertThat(r.multiply(x).reshape(15, n).toDMatrix().maxAbsDiff(want)).as(r.describe()).isLessThan(1e-5);
            assertThat(r.multiplyTransposed(x).reshape(15, n).toDMatrix().maxAbsDiff(wantT)).as(r.describe()).isLessThan(1e-5);
            double[] rows = xd.data.clone();
            r.multiplyRows(rows, 0, 15);
            assertThat(new DMatrix(15, n, rows).maxAbsDiff(want)).isLessThan(1e-13);
            r.multiplyRowsTransposed(rows, 0, 15);
            assertThat(new DMatrix(15, n, rows).maxAbsDiff(xd)).as("Mᵀ undoes M").isLessThan(1e-13);
            // on a Var with a gradient: the dense product, same values
            Var v = Var.param(x);
            assertThat(r.multiply(v).value().maxAbsDiff(r.multiply(x))).isLessThan(1e-5);
        }
        // a Hadamard rotation's entries are all ±1/√n (incoherence)
        for (double e : Rotation.randomHadamard(48, 9).matrix().data) assertThat(Math.abs(Math.abs(e) - 1 / Math.sqrt(48))).isLessThan(1e-15);
        assertThatThrownBy(() -> Rotation.dense(DMatrix.diagonal(1, 2), "not orthogonal")).hasMessageContaining("not orthogonal");
    }
}
