package dev.stiefel.quant.adaptive;

import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.quant.Linears;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Outlier-guided selection, the cheap half of adaptive layer-wise transforms (Pham et al., arXiv 2511.17809): the
 * kurtosis of a block's weights predicts which transform type suits it, so instead of searching, score each decoder
 * block by how far its kurtosis stands out from the others and give the outliers the other type.
 * <ol>
 *   <li>κ_l = m₄ / m₂² of all weights of block l's seven linears pooled (q, k, v, o, gate, up, down as stored, norm gains
 *       not folded in), with the central moments m_k = mean((w − mean w)^k): the plain (Pearson) kurtosis, 3 for a
 *       Gaussian, 6 for a Laplace, 1.8 for a uniform distribution; heavy tails (outlier weights) raise it, and so do
 *       unequal scales of the seven matrices ({@link Pooling#STANDARDIZED} removes that part);</li>
 *   <li>the robust z-score across blocks (Iglewicz and Hoaglin's modified z-score):
 *       z_l = 0.6745·(κ_l − median κ) / MAD, MAD = median |κ_l − median κ|; 0.6745 = Φ⁻¹(3/4) makes MAD/0.6745 estimate
 *       the standard deviation for Gaussian data, so z reads like an ordinary z-score but a few extreme blocks cannot
 *       inflate the scale that measures them;</li>
 *   <li>blocks with z_l > threshold (one-sided: heavy-tailed blocks) get {@link TransformKind#ROTATION}, the rest
 *       {@link TransformKind#AFFINE}: an orthogonal transform spreads an outlier's energy over all coordinates without
 *       amplifying any weight (‖W·R‖ = ‖W‖), whereas a learned affine P folds P⁻¹ into the weights and, with outliers,
 *       is the harder fit. The threshold defaults to 3.5, Iglewicz and Hoaglin's recommended cut-off for the modified
 *       z-score.</li>
 * </ol>
 * Only the paper's abstract could be read while writing this (it names the kurtosis of the weight distribution and the
 * robust z-score, not the unit, the direction or the threshold), so the unit (the decoder block, the unit of
 * {@link TransformKind}), the one-sided rule, the direction (heavy tails → rotation) and 3.5 are this project's reading;
 * {@link #select(LlamaWeights, double, TransformKind, TransformKind)} takes the two kinds so the other direction can be
 * tried. docs/adaptive.md says the same.
 *
 * <p>When MAD = 0 (more than half of the blocks share one kurtosis) the modified z-score is undefined; then the scale is
 * the mean absolute deviation from the median times 1.2533 (= √(π/2), which makes it estimate the standard deviation for
 * Gaussian data, the convention of IBM's modified z-score), and when that is 0 too (every block has the same kurtosis)
 * every z is 0: no block stands out. {@link Analysis#scale()} says which one was used.
 */
public final class OutlierGuided {
    private OutlierGuided() {}

    /** Iglewicz and Hoaglin's cut-off for the modified z-score. */
    public static final double DEFAULT_THRESHOLD = 3.5;

    /** Φ⁻¹(3/4): MAD / 0.6745 estimates σ for Gaussian data. */
    public static final double MAD_CONSISTENCY = 0.6745;

    /** √(π/2): 1.2533 · mean |x − median| estimates σ for Gaussian data (the fallback scale when MAD = 0). */
    public static final double MEAN_AD_CONSISTENCY = 1.253314;

    /** Which scale divided the deviations from the median. */
    public enum Scale {
        /** the median absolute deviation (the normal case) */
        MAD,
        /** MAD was 0: the mean absolute deviation from the median */
        MEAN_ABSOLUTE_DEVIATION,
        /** every value equal: all z = 0 */
        NONE
    }

    /**
     * One decoder block.
     *
     * @param block    the block's index
     * @param kurtosis κ of all its linear weights pooled
     * @param z        the robust z-score of κ across blocks
     * @param weights  how many weights κ was computed over
     * @param perLinear κ of each of its seven linears alone (for inspection; the rule uses the pooled κ)
     */
    public record BlockStats(int block, double kurtosis, double z, long weights, Map<Linear, Double> perLinear) {}

    /**
     * Robust z-scores of a list of values.
     *
     * @param z      one per value, in order
     * @param median the median of the values
     * @param mad    the median absolute deviation from it
     * @param scale  which scale divided the deviations
     */
    public record RobustZ(double[] z, double median, double mad, Scale scale) {}

    /**
     * Every block's statistics.
     *
     * @param blocks in block order
     * @param median median κ
     * @param mad    MAD of κ
     * @param scale  the scale used for z
     */
    public record Analysis(List<BlockStats> blocks, double median, double mad, Scale scale) {

        /** z > threshold → {@code high}, else {@code low}, in block order. */
        public List<TransformKind> kinds(double threshold, TransformKind high, TransformKind low) {
            if (!Double.isFinite(threshold)) throw new IllegalArgumentException("outlier-guided selection: the threshold must be finite, got " + threshold);
            List<TransformKind> out = new ArrayList<>(blocks.size());
            for (BlockStats b : blocks) out.add(b.z() > threshold ? high : low);
            return Collections.unmodifiableList(out);
        }

        /** The default rule: heavy-tailed blocks (z > threshold) get a rotation, the others an affine transform. */
        public List<TransformKind> kinds(double threshold) { return kinds(threshold, TransformKind.ROTATION, TransformKind.AFFINE); }
    }

    /**
     * How a block's seven weight matrices become one distribution. The matrices have different scales, and a mixture of
     * Gaussians of different variances has κ > 3 even when each is Gaussian, so the two differ (docs/adaptive.md).
     */
    public enum Pooling {
        /** all weights as stored, one distribution (the default: "the kurtosis of the block's weight distribution") */
        RAW,
        /**
         * each matrix standardised to zero mean and unit variance first; the pooled κ is then the weight-count-weighted
         * mean of the seven matrices' own κ, a measure of tails alone
         */
        STANDARDIZED;

        /** "raw" or "standardized" (case-insensitive), naming the accepted values when it fails. */
        public static Pooling parse(String s) {
            return switch (s.strip().toLowerCase(java.util.Locale.ROOT)) {
                case "raw" -> RAW;
                case "standardized", "standardised" -> STANDARDIZED;
                default -> throw new IllegalArgumentException("unknown pooling '" + s + "'; expected raw or standardized");
            };
        }
    }

    /**
     * The rule with its settings, as the {@code adaptive-kurtosis} method applies it to the full-precision weights.
     *
     * @param threshold blocks with robust z above it get {@code high}
     * @param high      the kind for heavy-tailed blocks
     * @param low       the kind for the others
     * @param pooling   how a block's matrices become one distribution
     */
    public record Rule(double threshold, TransformKind high, TransformKind low, Pooling pooling) {
        public Rule {
            if (!Double.isFinite(threshold)) throw new IllegalArgumentException("outlier-guided selection: the threshold must be finite, got " + threshold);
            if (high == null || low == null || pooling == null) throw new IllegalArgumentException("outlier-guided selection: kinds and pooling are required");
        }

        /** {@link #DEFAULT_THRESHOLD}, heavy tails → rotation, the rest affine, weights pooled as stored. */
        public static Rule defaults() { return new Rule(DEFAULT_THRESHOLD, TransformKind.ROTATION, TransformKind.AFFINE, Pooling.RAW); }

        /** One kind per block of {@code w}. */
        public List<TransformKind> select(LlamaWeights w) { return analyze(w, pooling).kinds(threshold, high, low); }
    }

    /** Kurtosis, z-scores and MAD of every decoder block of {@code w}, all weights of a block pooled as stored. */
    public static Analysis analyze(LlamaWeights w) { return analyze(w, Pooling.RAW); }

    /** Kurtosis, z-scores and MAD of every decoder block of {@code w}, the block's matrices pooled as {@code pooling} says. */
    public static Analysis analyze(LlamaWeights w, Pooling pooling) {
        int layers = w.config().layers();
        double[] kappa = new double[layers];
        long[] counts = new long[layers];
        List<Map<Linear, Double>> per = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            Map<Linear, Double> one = new EnumMap<>(Linear.class);
            List<Tensor> ts = new ArrayList<>();
            for (Linear which : Linears.BLOCK) {
                Tensor t = Linears.weight(w, l, which);
                ts.add(t);
                one.put(which, kurtosis(List.of(t), Linears.name(l, which)));
            }
            counts[l] = ts.stream().mapToLong(Tensor::numel).sum();
            if (pooling == Pooling.RAW) kappa[l] = kurtosis(ts, "block " + l);
            else {
                // standardised matrices pooled: m2 = 1 and m4 = Σ n_i κ_i / N, so κ is the count-weighted mean of the κ_i
                double sum = 0;
                for (int i = 0; i < ts.size(); i++) sum += ts.get(i).numel() * one.get(Linears.BLOCK.get(i));
                kappa[l] = sum / counts[l];
            }
            per.add(Collections.unmodifiableMap(one));
        }
        RobustZ z = robustZ(kappa);
        List<BlockStats> blocks = new ArrayList<>(layers);
        for (int l = 0; l < layers; l++) blocks.add(new BlockStats(l, kappa[l], z.z()[l], counts[l], per.get(l)));
        return new Analysis(Collections.unmodifiableList(blocks), z.median(), z.mad(), z.scale());
    }

    /** One kind per block: z > threshold → rotation, else affine. */
    public static List<TransformKind> select(LlamaWeights w, double threshold) { return analyze(w).kinds(threshold); }

    /** One kind per block at {@link #DEFAULT_THRESHOLD}. */
    public static List<TransformKind> select(LlamaWeights w) { return select(w, DEFAULT_THRESHOLD); }

    /** One kind per block: z > threshold → {@code high}, else {@code low}. */
    public static List<TransformKind> select(LlamaWeights w, double threshold, TransformKind high, TransformKind low) {
        return analyze(w).kinds(threshold, high, low);
    }

    /**
     * The plain kurtosis m₄/m₂² of all elements of {@code tensors} together (any float dtype), in f64: a first pass for the
     * mean, a second for the central moments, read a slab of rows at a time so a large matrix is never copied whole.
     *
     * @param what names the values in the error when they have no spread
     */
    public static double kurtosis(List<Tensor> tensors, String what) { return kurtosis(tensors, what, 1 << 22); }

    /** As {@link #kurtosis(List, String)}, reading slabs of about {@code slabElements} elements (tests make them small). */
    static double kurtosis(List<Tensor> tensors, String what, int slabElements) {
        double sum = 0;
        long n = 0;
        for (Tensor t : tensors) for (float[] slab : slabs(t, slabElements)) { for (float v : slab) sum += v; n += slab.length; }
        if (n < 2) throw new IllegalArgumentException("kurtosis of " + what + ": " + n + " value(s); need at least 2");
        double mean = sum / n;
        Moments m = new Moments();
        for (int i = 0; i < tensors.size(); i++) {
            long offset = 0;
            for (float[] slab : slabs(tensors.get(i), slabElements)) { m.add(slab, mean, what, i, offset); offset += slab.length; }
        }
        return m.kurtosis(n, what);
    }

    /** The plain kurtosis of {@code values} (see {@link #kurtosis(List, String)}). */
    public static double kurtosis(double[] values) {
        if (values.length < 2) throw new IllegalArgumentException("kurtosis: " + values.length + " value(s); need at least 2");
        double mean = 0;
        for (double v : values) mean += v;
        mean /= values.length;
        double m2 = 0, m4 = 0;
        for (double v : values) { double d = v - mean, d2 = d * d; m2 += d2; m4 += d2 * d2; }
        if (!(m2 > 0)) throw new IllegalArgumentException("kurtosis: all " + values.length + " values are equal (" + mean + "); it is undefined");
        m2 /= values.length;
        m4 /= values.length;
        return m4 / (m2 * m2);
    }

    /** Robust z-scores 0.6745·(x − median)/MAD, with the fallbacks described in the class comment. */
    public static RobustZ robustZ(double[] x) {
        if (x.length == 0) throw new IllegalArgumentException("robust z-score: no values");
        for (int i = 0; i < x.length; i++)
            if (!Double.isFinite(x[i])) throw new IllegalArgumentException("robust z-score: value " + i + " is " + x[i]);
        double med = median(x);
        double[] dev = new double[x.length];
        double meanAd = 0;
        for (int i = 0; i < x.length; i++) { dev[i] = Math.abs(x[i] - med); meanAd += dev[i] / x.length; }
        double mad = median(dev);
        double[] z = new double[x.length];
        Scale scale;
        if (mad > 0) {
            scale = Scale.MAD;
            for (int i = 0; i < x.length; i++) z[i] = MAD_CONSISTENCY * (x[i] - med) / mad;
        } else if (meanAd > 0) {
            scale = Scale.MEAN_ABSOLUTE_DEVIATION;
            for (int i = 0; i < x.length; i++) z[i] = (x[i] - med) / (MEAN_AD_CONSISTENCY * meanAd);
        } else {
            scale = Scale.NONE; // every value is the median: nothing stands out
        }
        return new RobustZ(z, med, mad, scale);
    }

    /** The median (the mean of the two middle values for an even count). */
    public static double median(double[] x) {
        if (x.length == 0) throw new IllegalArgumentException("median: no values");
        double[] s = x.clone();
        Arrays.sort(s);
        int h = s.length / 2;
        return s.length % 2 == 1 ? s[h] : (s[h - 1] + s[h]) / 2;
    }

    /** A tensor's elements as f32 slabs of whole rows (about {@code elements} each), in row-major order. */
    private static Iterable<float[]> slabs(Tensor t, int elements) {
        if (t.dim() < 2 || t.numel() == 0) return List.of(t.toFloatArray());
        int rows = t.size(0), perRow = (int) (t.numel() / rows), step = Math.max(1, elements / Math.max(1, perRow));
        return () -> new java.util.Iterator<>() {
            int r = 0;

            @Override public boolean hasNext() { return r < rows; }

            @Override public float[] next() {
                int k = Math.min(step, rows - r);
                float[] f = t.narrow(0, r, k).toFloatArray();
                r += k;
                return f;
            }
        };
    }

    /** Σ(x − mean)² and Σ(x − mean)⁴ in f64. */
    private static final class Moments {
        double m2, m4;

        void add(float[] values, double mean, String what, int tensor, long offset) {
            for (int i = 0; i < values.length; i++) {
                double v = values[i];
                if (!Double.isFinite(v))
                    throw new IllegalArgumentException("kurtosis of " + what + ": element " + (offset + i) + " (row-major) of tensor " + tensor + " is " + v);
                double d = v - mean, d2 = d * d;
                m2 += d2;
                m4 += d2 * d2;
            }
        }

        double kurtosis(long n, String what) {
            if (!(m2 > 0)) throw new IllegalArgumentException("kurtosis of " + what + ": all " + n + " values are equal; it is undefined");
            double a = m2 / n, b = m4 / n;
            return b / (a * a);
        }
    }
}
