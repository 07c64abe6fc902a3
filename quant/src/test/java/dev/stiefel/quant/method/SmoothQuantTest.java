package dev.stiefel.quant.method;

import dev.stiefel.quant.catalog.Methods;
import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.LogitError;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.Linears;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.calib.ActivationStats;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.transform.DoubleWeights;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SmoothQuantTest {
    private final LlamaConfig config = RandomModels.config(64, 96, 2, 4, 2, 61, Rope.Layout.HALF, false);
    private final LlamaWeights base = RandomModels.random(config, 21);
    /**
     * The same function with 20× outlier channels entering q/k/v and gate/up, where SmoothQuant migrates them; none at
     * down_proj's input, which SmoothQuant (as mit-han-lab/smoothquant for LLaMA) leaves alone.
     */
    private final LlamaWeights fp = RandomModels.withOutliers(base, 20, 2, 0, 3);
    private final Random rnd = new Random(5);
    private final CalibrationData calib = calibration();
    private final List<Tensor> heldOut = RandomModels.sequences(rnd, 2, 40, 61);

    private CalibrationData calibration() {
        List<int[]> s = new ArrayList<>();
        for (int i = 0; i < 6; i++) s.add(RandomModels.tokens(new Random(100 + i), 48, 61));
        return new CalibrationData(s, "random tokens", 5);
    }

    @Test void scalesFollowEquationFourFromActivationAndWeightMaxima() {
        ActivationStats stats = ActivationStats.collect(new LlamaModel(fp), calib, Set.of(Input.ATTN_IN, Input.MLP_IN));
        DoubleWeights w = DoubleWeights.of(fp);
        for (double alpha : new double[]{0.5, 0.85})
            for (int l = 0; l < config.layers(); l++) {
                double[] act = stats.absMax(l, Input.MLP_IN);
                double[] s = SmoothQuant.scales(act, w, l, Input.MLP_IN, alpha);
                float[] g = Linears.weight(fp, l, Linear.GATE).toFloatArray(), u = Linears.weight(fp, l, Linear.UP).toFloatArray();
                for (int j = 0; j < config.dim(); j++) {
                    double wMax = 0;
                    for (int r = 0; r < config.hiddenDim(); r++)
                        wMax = Math.max(wMax, Math.max(Math.abs(g[r * config.dim() + j]), Math.abs(u[r * config.dim() + j])));
                    double want = Math.pow(act[j], alpha) / Math.pow(wMax, 1 - alpha);
                    assertThat(s[j]).isCloseTo(want, org.assertj.core.data.Offset.offset(1e-12 * want));
                }
            }
    }

    @Test void migrationLowersTheOutlierRatioAndKeepsTheFunction() {
        SmoothQuant.Smoothed sm = SmoothQuant.smooth(fp, calib, 0.5);
        ActivationStats before = ActivationStats.collect(new LlamaModel(fp), calib, Set.of(Input.ATTN_IN, Input.MLP_IN));
        ActivationStats after = ActivationStats.collect(sm.fused().model(), calib, Set.of(Input.ATTN_IN, Input.MLP_IN));
        for (int l = 0; l < config.layers(); l++)
            for (Input site : List.of(Input.ATTN_IN, Input.MLP_IN)) {
                double rb = ActivationStats.outlierRatio(before.absMax(l, site)), ra = ActivationStats.outlierRatio(after.absMax(l, site));
                assertThat(rb).as("layer %d %s before", l, site).isGreaterThan(8);
                assertThat(ra).as("layer %d %s: %s → %s", l, site, rb, ra).isLessThan(rb / 3);
            }
        assertThat(LogitError.relative(new LlamaModel(fp), sm.fused().model(), heldOut)).isLessThan(1e-5);
    }

    @Test void atW8A8ItBeatsRtnOnAModelWithOutliers() {
        QuantConfig c = QuantConfig.parse("W8A8");
        LlamaModel ref = new LlamaModel(fp);
        double rtn = LogitError.relative(ref, new Rtn().apply(fp, calib, c, ProgressFactory.SILENT).model(), heldOut);
        QuantizedModel q = new SmoothQuant().apply(fp, calib, c, ProgressFactory.SILENT);
        double sq = LogitError.relative(ref, q.model(), heldOut);
        // measured: SmoothQuant 0.015, RTN 0.064
        assertThat(sq).as("SmoothQuant %s vs RTN %s", sq, rtn).isLessThan(0.5 * rtn);
        SmoothQuant.Section s = q.report().section(SmoothQuant.Section.class);
        assertThat(s.alpha()).isEqualTo(0.5);
        assertThat(s.level()).isEqualTo(SmoothQuant.Level.CONFIG);
        assertThat(s.outlierRatio()).containsOnlyKeys("attn_in", "mlp_in");
        assertThat(s.equivalenceBeforeQuantization().relative()).isLessThan(1e-5);
        assertThat(q.report().method()).isEqualTo("smoothquant");
        assertThat(q.config().activation()).hasToString("int8 asym dynamic per-token");
    }

    @Test void thePapersO1ToO3Settings() {
        QuantConfig c = QuantConfig.parse("W8A8");
        assertThat(SmoothQuant.configFor(c, SmoothQuant.Level.O1).describe())
                .containsEntry("weights", "int8 sym static per-tensor").containsEntry("activations", "int8 sym dynamic per-token");
        assertThat(SmoothQuant.configFor(c, SmoothQuant.Level.O2).describe()).containsEntry("activations", "int8 sym dynamic per-tensor");
        QuantizedModel o3 = new SmoothQuant(new SmoothQuant.Options(0.5, SmoothQuant.Level.O3)).apply(fp, calib, c, ProgressFactory.SILENT);
        assertThat(o3.config().describe()).containsEntry("activations", "int8 sym static per-tensor").containsEntry("weights", "int8 sym static per-tensor");
        double err = LogitError.relative(new LlamaModel(fp), o3.model(), heldOut);
        assertThat(err).isLessThan(0.1); // measured 0.033: per-tensor static ranges, the coarsest setting, calibrated on the smoothed model
        assertThat(Methods.byName("smoothquant", Methods.Options.defaults().withSmoothAlpha(0.8)).name()).isEqualTo("smoothquant");
        assertThatThrownBy(() -> new SmoothQuant.Options(1.5, SmoothQuant.Level.CONFIG)).hasMessageContaining("alpha");
        assertThatThrownBy(() -> new SmoothQuant().apply(fp, null, c, ProgressFactory.SILENT)).hasMessageContaining("calibration");
    }
}
