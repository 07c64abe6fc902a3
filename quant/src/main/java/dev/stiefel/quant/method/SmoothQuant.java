package dev.stiefel.quant.method;

import dev.stiefel.quant.pipeline.WeightStage;
import dev.stiefel.quant.pipeline.Steps;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.quant.pipeline.Method;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.QuantSpec.Granularity;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.pipeline.Report;
import dev.stiefel.quant.calib.ActivationStats;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.transform.ChannelScaling;
import dev.stiefel.quant.transform.ChannelScaling.Between;
import dev.stiefel.quant.transform.DoubleWeights;
import dev.stiefel.quant.transform.Transforms;
import dev.stiefel.tensor.linalg.DMatrix;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * SmoothQuant (Xiao et al., ICML 2023): activation outliers sit in a few fixed channels, so part of their range is
 * migrated into the weights, which are easy to quantize. For each RMSNorm and the projections it feeds
 * (input_layernorm → q/k/v, post_attention_layernorm → gate/up), per input channel j
 * <pre>
 *   s_j = max|X_j|^α / max|W_j|^(1−α)        (eq. 4; max|X_j| over calibration tokens, max|W_j| over the rows of all readers)
 *   g_j ← g_j / s_j,   W[:, j] ← W[:, j]·s_j   (eq. 3: X·diag(s)⁻¹ · (diag(s)·Wᵀ), the division folded into the norm)
 * </pre>
 * with the weight maxima and s clamped at 1e-5 as in mit-han-lab/smoothquant's {@code smooth_ln_fcs_llama_like}. Then RTN
 * of the weights and the config's activation quantizers (dynamic per token by default), or the paper's O1–O3
 * settings: weights per tensor and activations per token (O1), per tensor dynamic (O2), per tensor static (O3),
 * symmetric as in the paper.
 */
public record SmoothQuant(Options options, WeightStage weights) implements Method {

    /** Which quantizer granularities: the config's own, or the paper's O1, O2, O3 (Table 2). */
    public enum Level { CONFIG, O1, O2, O3 }

    /**
     * @param alpha migration strength α in [0, 1]: 0 leaves activations alone, 1 moves all of their range into weights
     *              (0.5 is the paper's default; 0.8–0.85 for LLaMA in later releases)
     * @param level quantizer settings
     */
    public record Options(double alpha, Level level) {
        public Options {
            if (!(alpha >= 0 && alpha <= 1)) throw new IllegalArgumentException("smoothquant: alpha must be in [0, 1], got " + alpha);
            if (level == null) throw new IllegalArgumentException("smoothquant: level is required (CONFIG, O1, O2, O3)");
        }

        public static Options defaults() { return new Options(0.5, Level.CONFIG); }
    }

    public SmoothQuant() { this(Options.defaults()); }

    /** Smoothing, then RTN (the paper's recipe). */
    public SmoothQuant(Options options) { this(options, new Rtn()); }

    /** Floor of the weight maxima and of s (the reference's clamp(min=1e-5)). */
    static final double FLOOR = 1e-5;

    @Override public String name() { return weights instanceof Rtn ? "smoothquant" : "smoothquant-" + weights.name(); }

    @Override public QuantizedModel apply(LlamaWeights fp, CalibrationData calibration, QuantConfig config, ProgressFactory progress) {
        if (calibration == null) throw new IllegalArgumentException("smoothquant: needs calibration data for the activation maxima (e.g. 512 samples of 512 tokens)");
        QuantConfig used = configFor(config, options.level());
        Smoothed smoothed = smooth(fp, calibration, options.alpha());
        QuantizedModel q = weights.apply(smoothed.fused().weights(), Hooks.NONE, calibration, used, progress);
        Section sq = new Section(options.alpha(), options.level(), "input_layernorm → q/k/v, post_attention_layernorm → gate/up",
                smoothed.outlierRatios(), Steps.equivalence(fp, smoothed.fused(), calibration));
        Report report = q.report().withMethod(name()).withCalibration(calibration.describe()).with(sq);
        return q.withReport(report);
    }

    /**
     * The smoothed full-precision model and, per site and layer, the outlier ratio max_j m_j / mean_j m_j of the
     * channel maxima m_j before and after (m_j / s_j).
     */
    public record Smoothed(Transforms.Fused fused, Map<String, OutlierRatios> outlierRatios) {}

    /** One site's outlier ratio per layer, before and after the migration. */
    public record OutlierRatios(List<Double> before, List<Double> after) {}

    /** What the report shows: α, the level, where it smoothed, the outlier ratios, and the smoothed model's distance from the original. */
    public record Section(double alpha, Level level, String smoothed, Map<String, OutlierRatios> outlierRatio,
                          Report.Equivalence equivalenceBeforeQuantization) implements Report.Section {
        @Override public String key() { return "smoothquant"; }
    }

    /** The migration alone (eq. 3–4), before any quantization: the maxima from one pass of {@code fp} over the data. */
    public static Smoothed smooth(LlamaWeights fp, CalibrationData calibration, double alpha) {
        ActivationStats stats = ActivationStats.collect(new LlamaModel(fp), calibration, java.util.Set.of(Input.ATTN_IN, Input.MLP_IN));
        DoubleWeights w = DoubleWeights.of(fp);
        int layers = fp.config().layers();
        Map<String, OutlierRatios> ratios = Steps.figures();
        List<ChannelScaling> scalings = new ArrayList<>();
        for (Input site : List.of(Input.ATTN_IN, Input.MLP_IN)) {
            double[][] s = new double[layers][];
            List<Double> before = new ArrayList<>(), after = new ArrayList<>();
            for (int l = 0; l < layers; l++) {
                double[] act = stats.absMax(l, site);
                s[l] = scales(act, w, l, site, alpha);
                double[] moved = new double[act.length];
                for (int j = 0; j < act.length; j++) moved[j] = act[j] / s[l][j];
                before.add(Steps.round(ActivationStats.outlierRatio(act)));
                after.add(Steps.round(ActivationStats.outlierRatio(moved)));
            }
            scalings.add(new ChannelScaling(site == Input.ATTN_IN ? Between.ATTN_IN : Between.MLP_IN, s));
            ratios.put(site.name().toLowerCase(java.util.Locale.ROOT), new OutlierRatios(before, after));
        }
        return new Smoothed(Transforms.fuse(w, scalings), ratios);
    }

    /**
     * s_j = max(max|X_j|^α / max(max_i|W[i, j]|, 1e-5)^(1−α), 1e-5) over the rows of every reader (the reference clamps the
     * weight maxima and s, not the activation maxima; a channel that never fires gets s = 1e-5, harmless since its
     * activations are zero).
     */
    static double[] scales(double[] actMax, DoubleWeights w, int layer, Input site, double alpha) {
        int n = actMax.length;
        double[] wMax = new double[n];
        for (Linear which : DoubleWeights.readers(site)) {
            DMatrix m = w.linear(layer, which);
            for (int r = 0; r < m.rows; r++)
                for (int j = 0; j < n; j++) wMax[j] = Math.max(wMax[j], Math.abs(m.data[r * n + j]));
        }
        double[] s = new double[n];
        for (int j = 0; j < n; j++)
            s[j] = Math.max(Math.pow(actMax[j], alpha) / Math.pow(Math.max(wMax[j], FLOOR), 1 - alpha), FLOOR);
        return s;
    }

    /** The config with the paper's O1–O3 granularities applied (CONFIG: unchanged). */
    static QuantConfig configFor(QuantConfig c, Level level) {
        if (level == Level.CONFIG) return c;
        QuantSpec w = c.weight() == null ? null
                : c.weight().withGroupSize(0).withGranularity(Granularity.PER_TENSOR).withSymmetric(true);
        QuantSpec a = c.activation() == null ? null : switch (level) {
            case O1 -> c.activation().withGroupSize(0).withGranularity(Granularity.PER_TOKEN).withDynamic(true).withSymmetric(true);
            case O2 -> c.activation().withGroupSize(0).withGranularity(Granularity.PER_TENSOR).withDynamic(true).withSymmetric(true);
            case O3 -> c.activation().withGroupSize(0).withGranularity(Granularity.PER_TENSOR).withDynamic(false).withSymmetric(true);
            case CONFIG -> throw new AssertionError();
        };
        return c.withWeight(w).withActivation(a);
    }
}
