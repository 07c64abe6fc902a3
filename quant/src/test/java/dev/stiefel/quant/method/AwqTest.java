package dev.stiefel.quant.method;

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
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.calib.Capture;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class AwqTest {
    private final LlamaConfig config = RandomModels.config(64, 96, 2, 4, 2, 61, Rope.Layout.HALF, false);
    private final LlamaWeights fp = RandomModels.withOutliers(RandomModels.random(config, 21), 10, 2, 3);
    private final Random rnd = new Random(5);
    private final CalibrationData calib = calibration();
    private final Quantizer w3g16 = new Quantizer(QuantSpec.weights(3, false, 16));
    private final Awq.Rounding r3g16 = Awq.Rounding.of(w3g16);

    private CalibrationData calibration() {
        List<int[]> s = new ArrayList<>();
        for (int i = 0; i < 6; i++) s.add(RandomModels.tokens(new Random(200 + i), 48, 61));
        return new CalibrationData(s, "random tokens", 5);
    }

    @Test void theChosenScalesBeatUnitScalesOnTheirOwnObjective() {
        LlamaModel model = new LlamaModel(fp);
        List<Tensor> xs = Capture.embed(model, calib);
        Map<Input, List<Tensor>> feats = Awq.capture(model, 0, xs);
        // gate/up judged on the MLP output
        Awq.Search mlp = Awq.searchScales(Awq.mlpObjective(fp, 0, feats.get(Input.MLP_IN), r3g16), feats.get(Input.MLP_IN), 20);
        assertThat(mlp.ratio()).isGreaterThan(0);
        assertThat(mlp.loss()).as("α %s", mlp.ratio()).isLessThan(0.9 * mlp.lossUnscaled());
        // the objective at s = 1 is plain RTN of gate and up: recomputed here with loops
        assertThat(mlp.lossUnscaled()).isCloseTo(mlpRtnError(feats.get(Input.MLP_IN)), org.assertj.core.data.Percentage.withPercentage(1e-3));
        // q/k/v judged on the attention output, and up → down on down_proj's output
        Awq.Search attn = Awq.searchScales(Awq.attentionObjective(fp, 0, xs, feats.get(Input.ATTN_OUT), r3g16), feats.get(Input.ATTN_IN), 20);
        assertThat(attn.loss()).isLessThan(attn.lossUnscaled());
        Awq.Search down = Awq.searchScales(Awq.linearObjective(fp, 0, Linear.DOWN, feats.get(Input.MLP_OUT), r3g16), feats.get(Input.MLP_OUT), 20);
        assertThat(down.loss()).isLessThan(down.lossUnscaled());
        // s = mean|x|^α normalized so that max s · min s = 1
        double[] s = mlp.scales();
        double max = java.util.Arrays.stream(s).max().orElseThrow(), min = java.util.Arrays.stream(s).min().orElseThrow();
        assertThat(max * min).isCloseTo(1, org.assertj.core.data.Offset.offset(1e-12));
    }

    /** mean (y − ŷ)² of down(silu(x·Gᵀ) ⊙ x·Uᵀ) with G, U rounded to nearest, in f64 loops. */
    private double mlpRtnError(List<Tensor> inputs) {
        int d = config.dim(), h = config.hiddenDim();
        float[] g = Linears.weight(fp, 0, Linear.GATE).toFloatArray(), u = Linears.weight(fp, 0, Linear.UP).toFloatArray();
        float[] gq = w3g16.fakeQuant(Linears.weight(fp, 0, Linear.GATE), "g").toFloatArray(), uq = w3g16.fakeQuant(Linears.weight(fp, 0, Linear.UP), "u").toFloatArray();
        float[] dn = Linears.weight(fp, 0, Linear.DOWN).toFloatArray();
        double sum = 0;
        long count = 0;
        for (Tensor xt : inputs) {
            float[] x = xt.toFloatArray();
            for (int t = 0; t < x.length / d; t++) {
                double[] a = new double[h], b = new double[h];
                for (int r = 0; r < h; r++) {
                    double g1 = 0, u1 = 0, g2 = 0, u2 = 0;
                    for (int j = 0; j < d; j++) {
                        double xj = x[t * d + j];
                        g1 += xj * g[r * d + j]; u1 += xj * u[r * d + j]; g2 += xj * gq[r * d + j]; u2 += xj * uq[r * d + j];
                    }
                    a[r] = g1 / (1 + Math.exp(-g1)) * u1;
                    b[r] = g2 / (1 + Math.exp(-g2)) * u2;
                }
                for (int o = 0; o < d; o++) {
                    double ya = 0, yb = 0;
                    for (int r = 0; r < h; r++) { ya += dn[o * h + r] * a[r]; yb += dn[o * h + r] * b[r]; }
                    sum += (ya - yb) * (ya - yb);
                    count++;
                }
            }
        }
        return sum / count;
    }

    @Test void theClipSearchShrinksAGroupWithAnOutlierWeightAndNeverLosesToNoClipping() {
        int rows = 3, cols = 32, tokens = 64;
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian();
        w[5] = 12; // one huge weight in row 0, group 0
        float[][] x = new float[tokens][cols];
        for (float[] r : x) for (int j = 0; j < cols; j++) r[j] = (float) rnd.nextGaussian();
        double[][] best = Awq.searchClip(w, rows, cols, x, r3g16.groups(0, Linear.V, cols), 20, 0.5);
        assertThat(best).hasDimensions(rows, 2);
        assertThat(best[0][0]).isLessThan(12).isGreaterThanOrEqualTo(12 * 0.55 - 1e-6);
        for (int r = 0; r < rows; r++)
            for (int gi = 0; gi < 2; gi++) assertThat(groupError(w, cols, r, gi, x, best[r][gi])).isLessThanOrEqualTo(groupError(w, cols, r, gi, x, Double.POSITIVE_INFINITY));
    }

    /** mean over tokens of (Σ_group x·Q(clamp(w)) − Σ_group x·w)², independently of the search's loop. */
    private double groupError(float[] w, int cols, int r, int gi, float[][] x, double bound) {
        float[] group = new float[16];
        for (int c = 0; c < 16; c++) group[c] = (float) Math.min(Math.max(w[r * cols + gi * 16 + c], -bound), bound);
        float[] q = w3g16.fakeQuant(Tensor.wrap(group, 1, 16), "g").toFloatArray();
        double err = 0;
        for (float[] t : x) {
            double a = 0, b = 0;
            for (int c = 0; c < 16; c++) { a += (double) t[gi * 16 + c] * w[r * cols + gi * 16 + c]; b += (double) t[gi * 16 + c] * q[c]; }
            err += (a - b) * (a - b);
        }
        return err / x.length;
    }

    @Test void beatsRtnAtThreeBitsAndReportsItsSearch() {
        QuantConfig c = QuantConfig.parse("W3A16 g16");
        List<Tensor> heldOut = RandomModels.sequences(rnd, 2, 40, 61);
        LlamaModel ref = new LlamaModel(fp);
        double rtn = LogitError.relative(ref, new Rtn().apply(fp, null, c, ProgressFactory.SILENT).model(), heldOut);
        QuantizedModel q = new Awq().apply(fp, calib, c, ProgressFactory.SILENT);
        double awq = LogitError.relative(ref, q.model(), heldOut);
        assertThat(awq).as("AWQ %s vs RTN %s", awq, rtn).isLessThan(0.8 * rtn);
        QuantizedModel noClip = new Awq(Awq.Options.defaults().withClip(false)).apply(fp, calib, c, ProgressFactory.SILENT);
        assertThat(LogitError.relative(ref, noClip.model(), heldOut)).isLessThan(rtn);
        Awq.Section a = q.report().section(Awq.Section.class);
        assertThat(a.scaled()).contains("v → o skipped: GQA");
        assertThat(a.equivalenceAfterScaling().relative()).isLessThan(1e-5);
        assertThat(a.scales()).containsKey("model.layers.1");
        assertThat(a.clip()).isNotNull();
        assertThat(noClip.report().section(Awq.Section.class).clip()).isNull();
        assertThat(q.report().method()).isEqualTo("awq");
        assertThat(q.report().calibration()).isEqualTo(calib.describe());
        assertThat(q.config().weight()).hasToString("int3 asym g16 static per-channel");
        assertThat(q.report().weightError()).containsKey("model.layers.1.mlp.down_proj");
        assertThatThrownBy(() -> new Awq().apply(fp, calib, QuantConfig.parse("W16A8"), ProgressFactory.SILENT)).hasMessageContaining("weight-only");
        assertThatThrownBy(() -> new Awq().apply(fp, null, c, ProgressFactory.SILENT)).hasMessageContaining("calibration");
    }

    @Test void withMultiHeadAttentionVAndOAreScaledToo() {
        LlamaConfig mha = RandomModels.config(32, 48, 1, 4, 4, 29, Rope.Layout.HALF, true);
        LlamaWeights w = RandomModels.withOutliers(RandomModels.random(mha, 8), 10, 1, 2);
        QuantizedModel q = new Awq().apply(w, new CalibrationData(List.of(RandomModels.tokens(rnd, 30, 29), RandomModels.tokens(rnd, 30, 29)), "r", 1),
                QuantConfig.parse("W4A16 g16"), ProgressFactory.SILENT);
        Awq.Section a = q.report().section(Awq.Section.class);
        assertThat(a.scales().get("model.layers.0")).containsOnlyKeys("attn_in", "v_o", "mlp_in", "up_down");
        assertThat(a.equivalenceAfterScaling().relative()).isLessThan(1e-5);
    }

    /**
     * On a llama.cpp grid the searches score the grid the file stores: the scale search's loss at s = 1 is the output
     * error of down_proj quantized by its ggml type's reference rule (recomputed here with the block format and f64
     * loops), not by the spec that approximates the grid; the clip search's groups are that type's blocks, and a matrix
     * stored as F16 has none.
     */
    @Test void onAGgmlGridTheSearchesScoreThatGrid() {
        LlamaConfig wide = RandomModels.config(256, 256, 2, 4, 2, 61, Rope.Layout.HALF, false);
        LlamaWeights m = RandomModels.withOutliers(RandomModels.random(wide, 4), 10, 1, 2);
        QuantConfig c = QuantConfig.parse("Q4_K_M");
        Awq.Rounding grid = Awq.Rounding.of(c.ggml(), 2);
        LlamaModel model = new LlamaModel(m);
        List<Tensor> xs = Capture.embed(model, calib);
        List<Tensor> x = Awq.capture(model, 0, xs).get(Input.MLP_OUT);
        Tensor down = Linears.weight(m, 0, Linear.DOWN);
        var choice = c.ggml().choose(0, 2, Linear.DOWN, 256);
        assertThat(choice.type()).isEqualTo(dev.stiefel.llama.io.GgmlType.Q4_K);
        var format = dev.stiefel.llama.io.ggml.BlockFormats.of(choice.type());
        float[] w = down.toFloatArray(), wq = new float[w.length];
        format.dequantize(format.quantizeRow(w, 0, w.length), 0, w.length / 256, wq, 0);
        double expected = outputError(x, w, wq, 256, 256);
        double[] ones = new double[256];
        java.util.Arrays.fill(ones, 1);
        double onGrid = Awq.linearObjective(m, 0, Linear.DOWN, x, grid).loss(ones);
        double onSpec = Awq.linearObjective(m, 0, Linear.DOWN, x, Awq.Rounding.of(new Quantizer(c.weight()))).loss(ones);
        assertThat(onGrid).isCloseTo(expected, org.assertj.core.data.Percentage.withPercentage(1e-3));
        assertThat(Math.abs(onSpec - expected)).as("the approximate spec's loss %s vs the grid's %s", onSpec, expected).isGreaterThan(1e-3 * expected);
        // clipping groups: Q4_K's super-blocks, rounded as the format does
        Awq.GroupRounding g = grid.groups(0, Linear.DOWN, 256);
        assertThat(g.size()).isEqualTo(256);
        float[] block = java.util.Arrays.copyOf(w, 256);
        g.rounder().round(block, 256);
        assertThat(block).isEqualTo(java.util.Arrays.copyOf(wq, 256));
        assertThat(Awq.Rounding.of(QuantConfig.parse("Q4_0").ggml(), 2).groups(0, Linear.DOWN, 172)).as("F16 fallback").isNull();
        QuantizedModel q = new Awq().apply(m, calib, c, ProgressFactory.SILENT);
        assertThat(q.report().section(Awq.Section.class).searchedOn()).contains("Q4_K_M");
    }

    /** mean over tokens and rows of (x·w_r − x·ŵ_r)², w and ŵ [rows, cols], in f64 loops. */
    private static double outputError(List<Tensor> inputs, float[] w, float[] wq, int rows, int cols) {
        double sum = 0;
        long count = 0;
        for (Tensor xt : inputs) {
            float[] x = xt.toFloatArray();
            for (int t = 0; t < x.length / cols; t++)
                for (int r = 0; r < rows; r++) {
                    double a = 0, b = 0;
                    for (int j = 0; j < cols; j++) { a += (double) x[t * cols + j] * w[r * cols + j]; b += (double) x[t * cols + j] * wq[r * cols + j]; }
                    sum += (a - b) * (a - b);
                    count++;
                }
        }
        return sum / count;
    }
}
