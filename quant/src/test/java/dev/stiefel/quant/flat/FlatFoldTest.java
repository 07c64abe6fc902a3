package dev.stiefel.quant.flat;

import dev.stiefel.quant.ActivationQuantizer;
import dev.stiefel.quant.pipeline.BlockDriver;
import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.adaptive.TransformKind;
import dev.stiefel.quant.calib.ChannelMaxima;
import dev.stiefel.quant.transform.EquivalenceCheck;
import dev.stiefel.quant.transform.Online;
import dev.stiefel.quant.transform.Transforms;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * FlatQuant's transforms change nothing in full precision: folded into the weights (f64) with their online parts, the
 * model's logits equal the original's (1e-8 in f64 through the independent reference forward, 1e-4 relative in f32),
 * on a GQA model with Paley-order sizes and an MQA model of odd sizes; and the training forward (inverses on the tape)
 * computes the same function as the folded model.
 */
class FlatFoldTest {

    /** A well-conditioned, far from orthogonal factor: I + 0.4·G/√n. */
    private static Tensor factor(Random rnd, int n) {
        return Tensor.randn(rnd, n, n).mul((float) (0.4 / Math.sqrt(n))).add(Tensor.of(DMatrix.identity(n)));
    }

    private static double[] scales(Random rnd, int n) {
        double[] s = new double[n];
        for (int i = 0; i < n; i++) s[i] = 0.5 + 1.5 * rnd.nextDouble();
        return s;
    }

    private static FlatLayer random(LlamaConfig c, int layer, Random rnd, boolean matrices) {
        int[] d = Kronecker.factorSizes(c.dim()), h = Kronecker.factorSizes(c.hiddenDim());
        return new FlatLayer(layer, c.headDim(), scales(rnd, c.dim()), scales(rnd, c.dim()), scales(rnd, c.hiddenDim()),
                matrices ? factor(rnd, d[0]) : null, matrices ? factor(rnd, d[1]) : null, matrices ? factor(rnd, d[0]) : null,
                matrices ? factor(rnd, d[1]) : null, matrices ? factor(rnd, h[0]) : null, matrices ? factor(rnd, h[1]) : null,
                matrices ? factor(rnd, c.heads()) : null, matrices ? factor(rnd, c.headDim()) : null, matrices ? factor(rnd, c.headDim()) : null);
    }

    /** The random models, LLaMA and their Qwen2 (q/k/v biases) and Qwen3 (per-head q/k norms, head dim + 2) variants. */
    private static List<LlamaConfig> models() {
        List<LlamaConfig> out = new ArrayList<>();
        for (LlamaConfig c : List.of(EquivalenceCheck.GQA, EquivalenceCheck.ODD))
            for (LlamaConfig.Architecture a : LlamaConfig.Architecture.values())
                out.add(a == LlamaConfig.Architecture.LLAMA ? c : RandomModels.qwen(c, a));
        return out;
    }

    @Test void foldedTransformsWithTheirOnlinePartsLeaveTheModelUnchanged() {
        for (LlamaConfig c : models()) {
            Random rnd = new Random(c.dim());
            LlamaWeights fp = RandomModels.random(c, 5);
            Transforms.Fused f = EquivalenceCheck.assertEquivalent(fp, List.of(random(c, 0, rnd, true), random(c, 1, rnd, true)), rnd);
            assertThat(f.online()).hasSize(2 * 6);
            // scale-only blocks (the NONE kind) leave nothing online
            Transforms.Fused s = EquivalenceCheck.assertEquivalent(fp, List.of(random(c, 0, rnd, false), random(c, 1, rnd, true)), rnd);
            assertThat(s.online()).hasSize(6);
        }
    }

    /** A FlatBlock per kind, its quantizers removed and its Euclidean parameters moved off their starting values. */
    private static FlatBlock block(LlamaWeights fp, int layer, TransformKind kind, Factor.Form form, ChannelMaxima maxima, Random rnd) {
        return block(fp, layer, kind, form, maxima, rnd, "W4A4KV4").withoutQuantizers();
    }

    private static FlatBlock block(LlamaWeights fp, int layer, TransformKind kind, Factor.Form form, ChannelMaxima maxima, Random rnd, String config) {
        FlatBlock b = new FlatBlock(fp.config(), layer, kind, form, true, 0.3, fp.layer(layer), maxima, QuantConfig.parse(config), true, true, 3);
        for (Var p : b.clippingParameters()) p.value().copyFrom(p.value().add(Tensor.randn(rnd, p.shape())));
        for (Var p : b.transformParameters()) {
            Tensor v = p.value();
            float[] x = v.toFloatArray();
            for (int i = 0; i < x.length; i++) x[i] = x[i] * (float) (0.6 + 0.8 * rnd.nextDouble()) + (v.dim() == 2 ? (float) (0.1 * rnd.nextGaussian()) : 0f);
            v.copyFrom(Tensor.wrap(x, v.shape()));
        }
        return b;
    }

    @Test void theTrainingForwardComputesTheFoldedFunction() {
        for (LlamaConfig c : models()) {
            LlamaWeights fp = RandomModels.random(c, 8);
            Random rnd = new Random(4);
            Tensor ids = Tensor.ofInts(RandomModels.tokens(rnd, 13, c.vocabSize()), 1, 13);
            for (Object[] kf : new Object[][]{{TransformKind.AFFINE, Factor.Form.SVD}, {TransformKind.AFFINE, Factor.Form.FREE},
                    {TransformKind.ROTATION, Factor.Form.SVD}, {TransformKind.NONE, Factor.Form.SVD}}) {
                TransformKind kind = (TransformKind) kf[0];
                Factor.Form form = (Factor.Form) kf[1];
                List<LlamaWeights.Layer> folded = new ArrayList<>();
                List<Online> online = new ArrayList<>();
                List<Map<dev.stiefel.quant.transform.Site, ActivationQuantizer>> lacs = new ArrayList<>();
                try (var off = Grad.off()) {
                    Var x = new LlamaModel(fp).embed(ids);
                    for (int l = 0; l < c.layers(); l++) {
                        ChannelMaxima maxima = new ChannelMaxima(l);
                        Tensor want = new LlamaModel(fp, maxima).block(l, x, 0, null).value();
                        FlatBlock b = block(fp, l, kind, form, maxima, rnd);
                        Tensor got = new LlamaModel(fp, b).block(l, x, 0, null).value();
                        assertThat(got.maxAbsDiff(want) / want.abs().max().item()).as("%s %s layer %d training forward", kind, form, l).isLessThan(1e-4);
                        FlatBlock.Frozen fz = b.freeze();
                        folded.add(fz.fold(c, fp.layer(l)));
                        online.addAll(fz.transforms().online());
                        lacs.add(fz.lac());
                        x = Var.of(want);
                    }
                }
                LlamaModel q = new LlamaModel(BlockDriver.withLayers(fp, folded), new FlatRuntime(online, lacs));
                Transforms.Difference d = Transforms.compare(new LlamaModel(fp), q, List.of(ids));
                assertThat(d.relative()).as("%s %s folded: %s", kind, form, d).isLessThan(1e-4);
                assertThat(online.isEmpty()).isEqualTo(kind == TransformKind.NONE);
            }
        }
    }

    /**
     * With its quantizers, the deployed block (transforms folded in f64, weights on their final grid, LAC frozen, the
     * Kronecker products online) computes what the training forward computes, up to the f32 rounding of W·P⁻ᵀ on the
     * tape versus in f64, which may move a value across a rounding boundary: far closer to training than quantization
     * is to full precision.
     */
    @Test void theDeployedBlockComputesWhatTrainingComputed() {
        LlamaConfig c = EquivalenceCheck.GQA;
        LlamaWeights fp = RandomModels.random(c, 9);
        Random rnd = new Random(6);
        Tensor ids = Tensor.ofInts(RandomModels.tokens(rnd, 13, c.vocabSize()), 1, 13);
        for (String config : List.of("W8A8KV8", "W4A4KV4", "W3A3K2V2")) {
            for (TransformKind kind : TransformKind.values()) {
                try (var off = Grad.off()) {
                    Var x = new LlamaModel(fp).embed(ids);
                    ChannelMaxima maxima = new ChannelMaxima(0);
                    Tensor full = new LlamaModel(fp, maxima).block(0, x, 0, null).value();
                    FlatBlock b = block(fp, 0, kind, Factor.Form.SVD, maxima, rnd, config);
                    Tensor train = new LlamaModel(fp, b).block(0, x, 0, null).value();
                    FlatBlock.Frozen fz = b.freeze();
                    List<LlamaWeights.Layer> layers = new ArrayList<>(fp.layers());
                    layers.set(0, fz.fold(c, fp.layer(0)));
                    Tensor deployed = new LlamaModel(BlockDriver.withLayers(fp, layers),
                            new FlatRuntime(fz.transforms().online(), List.of(fz.lac()))).block(0, x, 0, null).value();
                    double quantization = train.maxAbsDiff(full), deployment = deployed.maxAbsDiff(train);
                    assertThat(quantization).as("%s %s quantizes something", config, kind).isGreaterThan(1e-4);
                    assertThat(deployment).as("%s %s: deployed vs training %s, training vs fp %s", config, kind, deployment, quantization)
                            .isLessThan(0.1 * quantization);
                }
            }
        }
    }
}
