package dev.stiefel.quant.analysis;

import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.Hooks.Input;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.method.OstQuant;
import dev.stiefel.quant.method.OstQuantView;
import dev.stiefel.quant.method.Qsur;
import dev.stiefel.quant.method.QuaRot;
import dev.stiefel.quant.method.SmoothQuant;
import dev.stiefel.quant.transform.Transforms;
import dev.stiefel.tensor.linalg.DMatrix;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * OSTQuant's quantization space utilisation rate (Hu et al., ICLR 2025, §3.1; {@link Qsur}) of the activations a
 * quantizer sees, measured on calibration data, for four versions of one model:
 * <ol>
 *   <li>{@link Case#NONE}: the model as it is;</li>
 *   <li>{@link Case#SMOOTH}: SmoothQuant's channel scaling alone ({@link SmoothQuant#smooth}, norm → q/k/v and norm → gate/up);</li>
 *   <li>{@link Case#ROTATION}: QuaRot's rotations alone ({@link QuaRot#transforms}: residual and per-head Hadamards, the
 *       online Hadamards at down_proj's and o_proj's inputs and on Q/K after RoPE);</li>
 *   <li>{@link Case#OSTQUANT}: OSTQuant's learned rotations and scalings ({@link OstQuant#learn}, a short run), fused.</li>
 * </ol>
 * For each case every block's four linear inputs (q/k/v, o, gate/up, down) are taken after the case's online transforms,
 * exactly what the linear layer multiplies, and the keys (after RoPE and any Q/K rotation) and values as written into the
 * KV cache. Activations are quantized per token over all features of a linear input and per token and head for K/V, so a
 * linear input's QSUR is over its d features and K's and V's are per KV head (head_dim features) and then averaged (the
 * mean of ln QSUR over heads). Mean and covariance come from every calibration token, accumulated in f64.
 *
 * <p>Memory is one d × d f64 matrix per site and case: meant for small models (stories260K, the embedded model) and
 * analysis runs, not for 7B checkpoints.
 */
public final class QsurAnalysis {
    private QsurAnalysis() {}

    /** The four versions of the model. */
    public enum Case {
        NONE("none"), SMOOTH("smooth"), ROTATION("rotation"), OSTQUANT("ostquant");

        public final String label;

        Case(String label) { this.label = label; }
    }

    /** Where the activations are read. */
    public enum Site {
        ATTN_IN("q/k/v in"), ATTN_OUT("o in"), MLP_IN("gate/up in"), MLP_OUT("down in"), KEY("K"), VALUE("V");

        public final String label;

        Site(String label) { this.label = label; }

        static Site of(Input in) {
            return switch (in) {
                case ATTN_IN -> ATTN_IN;
                case ATTN_OUT -> ATTN_OUT;
                case MLP_IN -> MLP_IN;
                case MLP_OUT -> MLP_OUT;
                case HEAD_IN -> throw new IllegalArgumentException("QSUR analysis: the head's input is not inside a block");
            };
        }
    }

    /**
     * @param smoothAlpha   SmoothQuant's migration strength for {@link Case#SMOOTH}
     * @param rotationSeed  QuaRot's random Hadamard signs for {@link Case#ROTATION}
     * @param ostquant      OSTQuant's options for {@link Case#OSTQUANT} (epochs and seed matter most: keep the run short)
     * @param learnConfig   the fake quantization OSTQuant learns under (e.g. W4A4KV4)
     */
    public record Options(double smoothAlpha, long rotationSeed, OstQuant.Options ostquant, QuantConfig learnConfig) {
        public static Options defaults() {
            return new Options(0.5, 0, OstQuant.Options.ostquant().withEpochs(2), QuantConfig.parse("W4A4KV4"));
        }
    }

    /**
     * One site of one block.
     *
     * @param layer        the block
     * @param site         which activation
     * @param dimensions   d of each vector the quantizer sees (head_dim for K/V)
     * @param groups       1, or the number of KV heads whose QSUR is averaged
     * @param perDimension (QSUR / its isotropic maximum)^(1/d) per case: 1 is a perfectly used space, comparable across d;
     *                     NaN where the covariance was singular
     * @param log10        log10 QSUR per case (K/V: the mean over heads)
     */
    public record Entry(int layer, Site site, int dimensions, int groups, Map<Case, Double> perDimension, Map<Case, Double> log10) {
        public String name() { return "L" + layer + " " + site.label; }
    }

    /**
     * @param entries  every block's sites, in block order then {@link Site} order
     * @param cases    the cases computed, in order
     * @param learning what OSTQuant's short learning did (null when the case was not run)
     */
    public record Result(List<Entry> entries, List<Case> cases, OstQuant.Learning learning) {

        /** The mean over entries of one site kind (all kinds when null) of the per-dimension ratio, NaNs skipped. */
        public double mean(Case c, Site site) {
            double s = 0;
            int n = 0;
            for (Entry e : entries) {
                double v = e.perDimension().get(c);
                if ((site == null || e.site() == site) && Double.isFinite(v)) { s += v; n++; }
            }
            return n == 0 ? Double.NaN : s / n;
        }
    }

    /** Runs the analysis for {@code cases} (any subset, in that order). */
    public static Result run(LlamaWeights fp, CalibrationData data, Options o, List<Case> cases, ProgressFactory progress) {
        LlamaConfig c = fp.config();
        Map<Case, Map<String, Moments>> moments = new EnumMap<>(Case.class);
        OstQuant.Learning learning = null;
        for (Case k : cases) {
            LlamaModel model = switch (k) {
                case NONE -> new LlamaModel(fp);
                case SMOOTH -> SmoothQuant.smooth(fp, data, o.smoothAlpha()).fused().model();
                case ROTATION -> Transforms.fuse(fp, QuaRot.transforms(c, QuaRot.Options.defaults().withSeed(o.rotationSeed()), true)).model();
                case OSTQUANT -> {
                    OstQuantView view = OstQuant.initialView(fp, o.learnConfig(), o.ostquant());
                    learning = OstQuant.learn(fp, view, data, o.learnConfig(), o.ostquant(), progress);
                    yield view.fuse().model();
                }
            };
            moments.put(k, observe(model, data));
        }
        List<Entry> entries = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++)
            for (Site s : Site.values()) {
                int groups = s == Site.KEY || s == Site.VALUE ? c.kvHeads() : 1;
                Map<Case, Double> per = new EnumMap<>(Case.class), log10 = new EnumMap<>(Case.class);
                int d = 0;
                for (Case k : cases) {
                    double logRel = 0, log = 0;
                    for (int g = 0; g < groups; g++) {
                        Moments m = moments.get(k).get(siteKey(l, s, g));
                        if (m == null) throw new IllegalStateException("QSUR analysis: nothing observed at " + siteKey(l, s, g) + " for " + k.label);
                        d = m.d;
                        Qsur q = m.qsur();
                        if (q == null) { logRel = Double.NaN; log = Double.NaN; break; }
                        logRel += (q.log() - q.logMax()) / q.dimensions() / groups;
                        log += q.log() / Math.log(10) / groups;
                    }
                    per.put(k, Math.exp(logRel));
                    log10.put(k, log);
                }
                entries.add(new Entry(l, s, d, groups, Collections.unmodifiableMap(per), Collections.unmodifiableMap(log10)));
            }
        return new Result(Collections.unmodifiableList(entries), List.copyOf(cases), learning);
    }

    /** One row of the printed table: site, d, then the per-dimension ratio of each case. */
    public static String row(Entry e, List<Case> cases) {
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "%-16s %5d", e.name(), e.dimensions()));
        for (Case k : cases) b.append(String.format(Locale.ROOT, " %10.4f", e.perDimension().get(k)));
        return b.toString();
    }

    private static String siteKey(int layer, Site s, int group) { return layer + "/" + s.name() + "/" + group; }

    /** Runs {@code model} (hooks included) over every sample and accumulates the moments of every site's vectors. */
    static Map<String, Moments> observe(LlamaModel model, CalibrationData data) {
        Map<String, Moments> m = new LinkedHashMap<>();
        Hooks inner = model.hooks();
        Hooks observer = new Hooks() {
            @Override public Var weight(int l, Linear which, Var w) { return inner.weight(l, which, w); }
            @Override public Var bias(int l, Linear which, Var b) { return inner.bias(l, which, b); }

            @Override public Var input(int l, Input where, Var x) {
                Var y = inner.input(l, where, x);
                if (where != Input.HEAD_IN) add(m, siteKey(l, Site.of(where), 0), y);
                return y;
            }

            @Override public Var query(int l, Var q) { return inner.query(l, q); }

            @Override public Var key(int l, Var k) {
                Var y = inner.key(l, k);
                addHeads(m, l, Site.KEY, y);
                return y;
            }

            @Override public Var value(int l, Var v) {
                Var y = inner.value(l, v);
                addHeads(m, l, Site.VALUE, y);
                return y;
            }
        };
        LlamaModel observed = model.withHooks(observer);
        try (var _ = Grad.off()) {
            for (int i = 0; i < data.size(); i++) observed.forward(data.ids(i), null);
        }
        return m;
    }

    /** [..., d] rows into one accumulator. */
    private static void add(Map<String, Moments> m, String key, Var x) {
        int[] s = x.shape();
        int d = s[s.length - 1];
        float[] v = x.value().contiguous().toFloatArray();
        m.computeIfAbsent(key, k -> new Moments(d)).add(v, 0, d, v.length / d, key);
    }

    /** [B, T, heads, headDim]: each head's vectors into its own accumulator. */
    private static void addHeads(Map<String, Moments> m, int layer, Site site, Var x) {
        int[] s = x.shape();
        int heads = s[s.length - 2], d = s[s.length - 1];
        float[] v = x.value().contiguous().toFloatArray();
        int rows = v.length / (heads * d);
        for (int h = 0; h < heads; h++) {
            String key = siteKey(layer, site, h);
            m.computeIfAbsent(key, k -> new Moments(d)).add(v, h * d, heads * d, rows, key);
        }
    }

    /**
     * Running sums for a mean and covariance in f64, shifted by the first vector seen (the covariance does not depend on
     * the shift; subtracting a typical vector keeps Σxxᵀ − n·x̄x̄ᵀ from cancelling when the mean is large).
     */
    static final class Moments {
        final int d;
        final double[] shift, sum, outer;
        long n;

        Moments(int d) {
            this.d = d;
            shift = new double[d];
            sum = new double[d];
            outer = new double[d * d];
        }

        /** {@code rows} vectors of d floats, the r-th starting at offset + r·stride. */
        void add(float[] v, int offset, int stride, int rows, String where) {
            double[] a = new double[d];
            for (int r = 0; r < rows; r++) {
                int base = offset + r * stride;
                if (n == 0) for (int j = 0; j < d; j++) shift[j] = v[base + j];
                for (int j = 0; j < d; j++) {
                    float x = v[base + j];
                    if (!Float.isFinite(x)) throw new IllegalArgumentException("QSUR analysis: " + where + " has " + x + " at token " + (n + 1) + ", feature " + j);
                    a[j] = x - shift[j];
                    sum[j] += a[j];
                }
                for (int i = 0; i < d; i++) {
                    double ai = a[i];
                    int row = i * d;
                    for (int j = i; j < d; j++) outer[row + j] += ai * a[j];
                }
                n++;
            }
        }

        double[] mean() {
            double[] m = new double[d];
            for (int j = 0; j < d; j++) m[j] = shift[j] + sum[j] / n;
            return m;
        }

        /** The unbiased covariance (n − 1). */
        DMatrix covariance() {
            DMatrix c = new DMatrix(d, d);
            for (int i = 0; i < d; i++)
                for (int j = i; j < d; j++) {
                    double v = (outer[i * d + j] - sum[i] * sum[j] / n) / (n - 1);
                    c.data[i * d + j] = v;
                    c.data[j * d + i] = v;
                }
            return c;
        }

        /** QSUR with the 99% ellipsoid, or null when there are too few vectors or the covariance is singular. */
        Qsur qsur() {
            if (n <= d) return null;
            try {
                return Qsur.of(mean(), covariance(), Math.sqrt(Qsur.chiSquare99(d)));
            } catch (IllegalArgumentException singular) {
                return null;
            }
        }
    }
}
