package dev.stiefel.quant.method;

import dev.stiefel.quant.catalog.Methods;
import dev.stiefel.autograd.Grad;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.Linears;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.pipeline.Report;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class MethodsTest {
    private final LlamaConfig config = RandomModels.config(48, 96, 2, 4, 2, 61, Rope.Layout.HALF, false);
    private final LlamaWeights fp = RandomModels.random(config, 21);
    private final Random rnd = new Random(5);
    private final CalibrationData calib = new CalibrationData(List.of(RandomModels.tokens(rnd, 48, 61), RandomModels.tokens(rnd, 48, 61),
            RandomModels.tokens(rnd, 48, 61), RandomModels.tokens(rnd, 48, 61)), "random tokens", 5);
    /** Held-out sequences, never seen in calibration. */
    private final List<Tensor> heldOut = List.of(Tensor.ofInts(RandomModels.tokens(rnd, 40, 61), 1, 40),
            Tensor.ofInts(RandomModels.tokens(rnd, 40, 61), 1, 40));

    private double[] logits(LlamaModel m) {
        try (var off = Grad.off()) {
            double[] all = new double[0];
            for (Tensor ids : heldOut) {
                float[] l = m.forward(ids, null).value().toFloatArray();
                double[] grown = java.util.Arrays.copyOf(all, all.length + l.length);
                for (int i = 0; i < l.length; i++) grown[all.length + i] = l[i];
                all = grown;
            }
            return all;
        }
    }

    /** ||logits − logits_fp|| / ||logits_fp|| on the held-out sequences. */
    private double relativeLogitError(QuantizedModel q) {
        double[] ref = logits(new LlamaModel(fp)), got = logits(q.model());
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) { num += (got[i] - ref[i]) * (got[i] - ref[i]); den += ref[i] * ref[i]; }
        return Math.sqrt(num / den);
    }

    @Test void rtnAtW8A8StaysCloseToFullPrecisionAndErrorGrowsAsBitsShrink() {
        double w8a8 = relativeLogitError(new Rtn().apply(fp, null, QuantConfig.parse("W8A8"), ProgressFactory.SILENT));
        double w6a6 = relativeLogitError(new Rtn().apply(fp, null, QuantConfig.parse("W6A6"), ProgressFactory.SILENT));
        double w4a4 = relativeLogitError(new Rtn().apply(fp, null, QuantConfig.parse("W4A4KV4"), ProgressFactory.SILENT));
        assertThat(w8a8).as("W8A8").isLessThan(0.02);
        assertThat(w6a6).as("W6A6").isGreaterThan(w8a8).isLessThan(0.1);
        assertThat(w4a4).as("W4A4KV4").isGreaterThan(w6a6);
    }

    @Test void rtnQuantizesEveryBlockLinearOnceAndLeavesEmbeddingAndHeadAlone() {
        QuantConfig c = QuantConfig.parse("W3A16 g16");
        QuantizedModel q = new Rtn().apply(fp, null, c, ProgressFactory.SILENT);
        LlamaWeights w = q.weights();
        assertThat(w.embedding()).isSameAs(fp.embedding());
        assertThat(w.output()).isSameAs(fp.output());
        assertThat(w.layer(1).attnNorm()).isSameAs(fp.layer(1).attnNorm());
        Quantizer quantizer = new Quantizer(c.weight());
        for (int l = 0; l < config.layers(); l++)
            for (Linear which : Linears.BLOCK) {
                Tensor t = Linears.weight(w, l, which);
                assertThat(t.toFloatArray()).isEqualTo(quantizer.fakeQuant(Linears.weight(fp, l, which), "w").toFloatArray());
                float[] v = t.toFloatArray();
                int cols = t.size(1);
                for (int r = 0; r < t.size(0); r++)
                    for (int g0 = 0; g0 < cols; g0 += 16) {
                        Set<Float> levels = new HashSet<>();
                        for (int k = g0; k < Math.min(cols, g0 + 16); k++) levels.add(v[r * cols + k]);
                        assertThat(levels.size()).isLessThanOrEqualTo(8);
                    }
            }
        Report report = q.report();
        assertThat(report.method()).isEqualTo("rtn");
        assertThat(report.calibration()).as("RTN without static ranges uses no data").isNull();
        assertThat(report.sections()).isEmpty();
        assertThat(q.config().describe()).containsEntry("shorthand", "W3A16 g16")
                .containsEntry("weights", "int3 asym g16 static per-channel").containsEntry("activations", "fp").containsEntry("head", "fp");
        Map<String, Report.TensorError> errors = report.weightError();
        assertThat(errors).hasSize(config.layers() * 7).containsKey("model.layers.1.mlp.down_proj");
        assertThat(errors.get("model.layers.0.self_attn.q_proj").relative()).isBetween(0.01, 0.5);
        assertThat(errors.get("model.layers.0.self_attn.q_proj").type()).isNull();
    }

    @Test void theEmbeddingAndHeadAreQuantizedOnRequestAndATiedPairIsUntiedWhenOnlyOneIs() {
        QuantConfig both = QuantConfig.parse("W4A8").withEmbeddingAndHead(true, true);
        QuantizedModel q = new Rtn().apply(fp, null, both, ProgressFactory.SILENT);
        Quantizer w4 = new Quantizer(both.weight());
        assertThat(q.weights().embedding().toFloatArray()).isEqualTo(w4.fakeQuant(fp.embedding(), "e").toFloatArray());
        assertThat(q.weights().output().toFloatArray()).isEqualTo(w4.fakeQuant(fp.output(), "h").toFloatArray());

        LlamaWeights tied = RandomModels.random(RandomModels.config(16, 24, 1, 2, 2, 19, Rope.Layout.HALF, true), 2);
        QuantizedModel headOnly = new Rtn().apply(tied, null, QuantConfig.parse("W4A16").withEmbeddingAndHead(false, true), ProgressFactory.SILENT);
        assertThat(headOnly.weights().embedding()).isSameAs(tied.embedding());
        assertThat(headOnly.weights().output()).isNotSameAs(headOnly.weights().embedding());
        assertThat(headOnly.weights().config().tiedEmbeddings()).isFalse();
        QuantizedModel bothTied = new Rtn().apply(tied, null, QuantConfig.parse("W4A16").withEmbeddingAndHead(true, true), ProgressFactory.SILENT);
        assertThat(bothTied.weights().output()).isSameAs(bothTied.weights().embedding());
        assertThat(bothTied.weights().config().tiedEmbeddings()).isTrue();
    }

    @Test void rtnWithTheClipSearchMovesWeightsLessInTheLpSense() {
        QuantConfig c = QuantConfig.parse("W3A16");
        QuantizedModel plain = new Rtn().apply(fp, null, c, ProgressFactory.SILENT);
        QuantizedModel searched = new Rtn().apply(fp, null, c.withWeightClipping(QuantSpec.Clipping.search()), ProgressFactory.SILENT);
        assertThat(searched.config().weight()).hasToString("int3 asym clip-search(p=2.4) static per-channel");
        for (Linear which : Linears.BLOCK) {
            float[] w = Linears.weight(fp, 0, which).toFloatArray();
            float[] a = Linears.weight(plain.weights(), 0, which).toFloatArray(), b = Linears.weight(searched.weights(), 0, which).toFloatArray();
            double ea = 0, eb = 0;
            for (int i = 0; i < w.length; i++) { ea += Math.pow(Math.abs(a[i] - w[i]), 2.4); eb += Math.pow(Math.abs(b[i] - w[i]), 2.4); }
            assertThat(eb).as(which.name()).isLessThan(ea);
        }
    }

    @Test void gptqAtW4A16IsNoWorseThanRtnInOutputErrorAndReportsItsSettings() {
        for (String shorthand : List.of("W4A16", "W3A16 g16")) {
            QuantConfig c = QuantConfig.parse(shorthand);
            double rtn = relativeLogitError(new Rtn().apply(fp, null, c, ProgressFactory.SILENT));
            QuantizedModel g = new Gptq().apply(fp, calib, c, ProgressFactory.SILENT);
            double gptq = relativeLogitError(g);
            assertThat(gptq).as("%s: GPTQ %s vs RTN %s", shorthand, gptq, rtn).isLessThan(rtn);
            QuantizedModel ordered = new Gptq(Gptq.Options.defaults().withActOrder(true)).apply(fp, calib, c, ProgressFactory.SILENT);
            assertThat(relativeLogitError(ordered)).as("%s act-order", shorthand).isLessThan(rtn);
            assertThat(g.report().method()).isEqualTo("gptq");
            assertThat(g.config().shorthand()).isEqualTo(shorthand);
            assertThat(g.report().gptqLoss()).hasSize(config.layers() * 7).allSatisfy((name, loss) -> assertThat(loss).as(name).isPositive());
            assertThat(g.report().section(Gptq.Options.class)).isEqualTo(Gptq.Options.defaults());
            Gptq.Seconds s = g.report().section(Gptq.Seconds.class);
            assertThat(List.of(s.captureForward(), s.hessians(), s.hessianFactors(), s.columnLoops())).allSatisfy(t -> assertThat(t).isPositive());
            // the stages run inside the blocks: the blocks' times cover them
            assertThat(g.report().blocks()).hasSize(config.layers());
            assertThat(g.report().blocks().stream().mapToDouble(Report.BlockFigures::seconds).sum())
                    .isGreaterThanOrEqualTo((s.captureForward() + s.hessians() + s.hessianFactors() + s.columnLoops()) * (1 - 1e-4));
            assertThat(g.report().calibration()).isEqualTo(calib.describe());
        }
    }

    @Test void gptqQuantizesInTrueSequentialOrderFromTheQuantizedBlocksOutputs() {
        // With true-sequential off, every linear of a block sees full-precision block inputs; the two runs differ
        // from the second group on, and agree on q/k/v of block 0 (both see the embeddings).
        QuantConfig c = QuantConfig.parse("W3A16");
        QuantizedModel seq = new Gptq().apply(fp, calib, c, ProgressFactory.SILENT);
        QuantizedModel par = new Gptq(Gptq.Options.defaults().withTrueSequential(false)).apply(fp, calib, c, ProgressFactory.SILENT);
        for (Linear which : List.of(Linear.Q, Linear.K, Linear.V))
            assertThat(Linears.weight(seq.weights(), 0, which).toFloatArray()).isEqualTo(Linears.weight(par.weights(), 0, which).toFloatArray());
        assertThat(Linears.weight(seq.weights(), 0, Linear.O).toFloatArray()).isNotEqualTo(Linears.weight(par.weights(), 0, Linear.O).toFloatArray());

        // every quantized weight is on its row's grid: at most 8 levels per row
        for (int l = 0; l < config.layers(); l++)
            for (Linear which : Linears.BLOCK) {
                Tensor t = Linears.weight(seq.weights(), l, which);
                float[] v = t.toFloatArray();
                for (int r = 0; r < t.size(0); r++) {
                    Set<Float> levels = new HashSet<>();
                    for (int k = 0; k < t.size(1); k++) levels.add(v[r * t.size(1) + k]);
                    assertThat(levels.size()).isLessThanOrEqualTo(8);
                }
            }
        assertThatThrownBy(() -> new Gptq().apply(fp, null, c, ProgressFactory.SILENT)).hasMessageContaining("needs calibration data");
    }

    /** The model says, typed, what runs online at inference: nothing after RTN or GPTQ, QuaRot's Hadamards at their sites. */
    @Test void theQuantizedModelNamesItsOnlineTransformsAndTheirSites() {
        QuantConfig c = QuantConfig.parse("W4A4KV4");
        assertThat(new Rtn().apply(fp, calib, c, ProgressFactory.SILENT).foldedIntoWeights()).isTrue();
        QuantizedModel quarot = Methods.byName("quarot-rtn", Methods.Options.defaults()).apply(fp, calib, c, ProgressFactory.SILENT);
        assertThat(quarot.foldedIntoWeights()).isFalse();
        assertThat(quarot.config()).isEqualTo(c);
        assertThat(quarot.online().stream().map(o -> o.site()).toList())
                .as("down_proj's input, o_proj's input (across heads) and Q/K after RoPE, since K is quantized")
                .contains(dev.stiefel.quant.transform.Site.of(dev.stiefel.llama.Hooks.Input.MLP_OUT),
                        dev.stiefel.quant.transform.Site.of(dev.stiefel.llama.Hooks.Input.ATTN_OUT));
    }

    /**
     * --act-order and --static-groups must reach the GPTQ step of every method that quantizes with GPTQ (ostquant and
     * spinquant used to build GPTQ at its defaults and ignore both). Each switch must change the weights, and the report
     * must name the settings the step ran with.
     */
    @Test void actOrderAndStaticGroupsReachEveryGptqBasedMethod() {
        QuantConfig c = QuantConfig.parse("W3A16 g16");
        OstQuant.Overrides fewSteps = new OstQuant.Overrides(null, 2, 2, null, null, null, null, null, null, null, null, null, null, null, null);
        for (String name : List.of("gptq", "smoothquant-gptq", "quarot-gptq", "ostquant", "spinquant")) {
            Methods.Options base = Methods.Options.defaults().withOstquant(fewSteps);
            QuantizedModel plain = Methods.byName(name, base).apply(fp, calib, c, ProgressFactory.SILENT);
            for (boolean[] flags : new boolean[][]{{true, false}, {false, true}}) {
                Methods.Options o = new Methods.Options(flags[0], flags[1]).withOstquant(fewSteps);
                QuantizedModel q = Methods.byName(name, o).apply(fp, calib, c, ProgressFactory.SILENT);
                Gptq.Options gptq = q.report().section(Gptq.Options.class);
                assertThat(gptq.actOrder()).as(name).isEqualTo(flags[0]);
                assertThat(gptq.staticGroups()).as(name).isEqualTo(flags[1]);
                boolean differs = false;
                for (int l = 0; l < config.layers() && !differs; l++)
                    for (Linear which : Linears.BLOCK)
                        differs |= !java.util.Arrays.equals(Linears.weight(q.weights(), l, which).toFloatArray(),
                                Linears.weight(plain.weights(), l, which).toFloatArray());
                assertThat(differs).as(name + " act_order=" + flags[0] + " static_groups=" + flags[1] + " changes the weights").isTrue();
            }
        }
    }

    @Test void staticActivationScalesComeFromTheCalibrationData() {
        QuantSpec staticA8 = QuantSpec.parse("int8 asym static per-tensor");
        QuantConfig c = QuantConfig.parse("W8A8").withActivation(staticA8);
        assertThatThrownBy(() -> new Rtn().apply(fp, null, c, ProgressFactory.SILENT)).hasMessageContaining("need calibration data");
        QuantizedModel q = new Rtn().apply(fp, calib, c, ProgressFactory.SILENT);
        assertThat(q.config().activation()).isEqualTo(staticA8);
        assertThat(q.report().calibration()).isEqualTo(calib.describe());
        assertThat(relativeLogitError(q)).isLessThan(0.05);
    }
}
