package dev.stiefel.quant;

import dev.stiefel.autograd.FakeQuant;
import dev.stiefel.autograd.Var;
import dev.stiefel.quant.QuantSpec.Clipping;
import dev.stiefel.quant.QuantSpec.Granularity;
import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backends;

/**
 * Finds scales and zero points for a {@link QuantSpec} and applies them: fake quantization (quantize then
 * dequantize, in f32) for evaluation, its straight-through twin on {@link Var}s for training, and the packed integer
 * form. All three compute each element with the same f32 operations in the same order,
 * <pre>
 *   q = clamp(round(x / s) + z, qmin, qmax)       (round half to even)
 *   y = (q − z) · s
 * </pre>
 * which is autograd's {@link FakeQuant#quantize}, so their results agree bit for bit.
 *
 * <p>A tensor is read as rows along its last axis (see {@link QuantSpec}). Quantizing a tensor that holds NaN or
 * infinity fails with the tensor's name and the element's position: such a value has no place on a grid and would
 * silently poison the scale of its whole group.
 */
public final class Quantizer {
    /**
     * The smallest scale used. A group whose range is so small that s underflows would otherwise divide 0 by 0;
     * at the smallest normal float every value in that group still lands on its nearest level.
     */
    static final float MIN_SCALE = Float.MIN_NORMAL;

    private final QuantSpec spec;
    private final int qmin, qmax;

    public Quantizer(QuantSpec spec) {
        this.spec = spec;
        this.qmin = spec.qmin();
        this.qmax = spec.qmax();
    }

    public QuantSpec spec() { return spec; }

    // ------------------------------------------------------------ the element-wise grid

    /** The clamped integer level of x, as a float: clamp(round(x / s) + z, qmin, qmax). */
    public static float level(float x, float s, float z, int qmin, int qmax) {
        float q = (float) Math.rint(x / s) + z;
        return Math.min(Math.max(q, qmin), qmax);
    }

    /** (level − z) · s: the value x is replaced by. */
    public static float fakeQuant(float x, float s, float z, int qmin, int qmax) {
        return (level(x, s, z, qmin, qmax) - z) * s;
    }

    // ------------------------------------------------------------ finding scales

    /**
     * Scale and zero point for the values {@code x[from, to)} (one group), clipped as the spec says, written to
     * {@code scale[at]} and {@code zero[at]}. Throws when a value is not finite, naming {@code name} and the element's
     * row and column in a row-major matrix of {@code cols} columns.
     */
    public void fitGroup(float[] x, int from, int to, float[] scale, float[] zero, int at, String name, int cols) {
        // The range always contains 0 (GPTQ's find_params): a group of positive values keeps 0 representable.
        double lo = 0, hi = 0;
        for (int i = from; i < to; i++) {
            float v = x[i];
            if (!Float.isFinite(v)) throw notFinite(name, v, i, cols);
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        Clipping clip = spec.clipping();
        int candidates = clip.candidates();
        float[] sz = new float[2];
        paramsFor(lo * clip.ratio(0), hi * clip.ratio(0), sz);
        if (candidates > 1) {
            // GPTQ/QuaRot find_params(mse=True): shrink the range by 1 − i/grid, keep the ratio whose grid has the
            // smallest Σ|Q(x) − x|^p over the group; the first (widest) ratio wins ties.
            double best = lpError(x, from, to, sz[0], sz[1], clip.norm(), Double.POSITIVE_INFINITY);
            float[] trial = new float[2];
            for (int i = 1; i < candidates; i++) {
                double r = clip.ratio(i);
                paramsFor(lo * r, hi * r, trial);
                double err = lpError(x, from, to, trial[0], trial[1], clip.norm(), best);
                if (err < best) {
                    best = err;
                    sz[0] = trial[0];
                    sz[1] = trial[1];
                }
            }
        }
        scale[at] = sz[0];
        zero[at] = sz[1];
    }

    /**
     * s and z covering [lo, hi] (lo ≤ 0 ≤ hi). Symmetric: s = max(|lo|, hi) / qmax, z = 0, and s = 1 for an all-zero
     * group (QuaRot's ActQuantizer). Asymmetric: s = (hi − lo) / qmax, z = round(−lo / s); an all-zero group gets the
     * range [−1, 1] (GPTQ), which represents its zeros exactly.
     */
    void paramsFor(double lo, double hi, float[] out) {
        float s, z;
        if (spec.symmetric()) {
            double m = Math.max(-lo, hi);
            s = m == 0 ? 1f : (float) (m / qmax);
            z = 0f;
        } else {
            if (lo == 0 && hi == 0) { lo = -1; hi = 1; }
            s = (float) ((hi - lo) / qmax);
            s = Math.max(s, MIN_SCALE);
            z = (float) Math.min(Math.max(Math.rint(-lo / s), 0), qmax);
        }
        out[0] = Math.max(s, MIN_SCALE);
        out[1] = z;
    }

    /** Σ|Q(x) − x|^p over the group, or any value ≥ {@code bound} once the partial sum reaches it (it cannot win). */
    private double lpError(float[] x, int from, int to, float s, float z, double p, double bound) {
        double err = 0;
        for (int i = from; i < to; i++) {
            double d = Math.abs(fakeQuant(x[i], s, z, qmin, qmax) - x[i]);
            if (d != 0) err += p == 2 ? d * d : Math.pow(d, p);
            if (err >= bound) return err;
        }
        return err;
    }

    /**
     * Parameters for the row-major matrix x [rows, cols]: one set for the whole tensor (per-tensor), per row, or per
     * row and group of {@code spec.groupSize()} columns.
     */
    public QuantParams fit(float[] x, int rows, int cols, String name) {
        if ((long) rows * cols != x.length)
            throw new IllegalArgumentException("quantize " + name + ": " + x.length + " values for " + rows + "×" + cols);
        if (spec.granularity() == Granularity.PER_TENSOR) {
            float[] s = new float[1], z = new float[1];
            fitGroup(x, 0, x.length, s, z, 0, name, cols);
            return new QuantParams(spec.bits(), spec.symmetric(), rows, cols, 1, 1, s, z, new int[cols]);
        }
        int g = spec.groupSize() == 0 ? cols : Math.min(spec.groupSize(), cols);
        int groups = cols == 0 ? 0 : (cols + g - 1) / g;
        float[] s = new float[rows * groups], z = new float[rows * groups];
        // the clip search tries ~80 grids per group: worth the pool even for small matrices
        int grain = Math.max(1, (spec.clipping().kind() == Clipping.Kind.SEARCH ? 2_000 : 64_000) / Math.max(cols, 1));
        Parallel.forRange(rows, grain, (r0, r1) -> {
            for (int r = r0; r < r1; r++)
                for (int j = 0; j < groups; j++)
                    fitGroup(x, r * cols + j * g, r * cols + Math.min(cols, (j + 1) * g), s, z, r * groups + j, name, cols);
        });
        return new QuantParams(spec.bits(), spec.symmetric(), rows, cols, rows, groups, s, z, QuantParams.consecutiveGroups(cols, g));
    }

    /**
     * {@link #fit(float[], int, int, String)} for x [rows, cols] wherever it is. A device tensor whose parameters follow
     * from its groups' ranges (no clip search; groups that divide the row, or the whole tensor) sends only its groups'
     * extremes to the heap, two reductions on the device, and gets {@link #fitGroup}'s parameters from the same extremes
     * (min and max are exact, so the same bits) instead of coming over whole. A value that is not finite, or another
     * layout, takes the heap's path (which names the element).
     */
    public QuantParams fit(Tensor x, String name) {
        if (x.dim() != 2) throw new IllegalArgumentException("quantize " + name + ": expected rows [rows, cols], got " + Shape.str(x.shape()));
        int rows = x.size(0), cols = x.size(1);
        int g = spec.groupSize() == 0 ? cols : Math.min(spec.groupSize(), cols);
        boolean perTensor = spec.granularity() == Granularity.PER_TENSOR;
        Tensor groups = deviceGroups(x);
        if (groups == null) return fit(x.toFloatArray(), rows, cols, name);
        float[] max = groups.max(-1, false).toFloatArray(), min = groups.min(-1, false).toFloatArray();
        int n = max.length;
        float[] s = new float[n], z = new float[n], sz = new float[2];
        double ratio = spec.clipping().ratio(0);
        for (int i = 0; i < n; i++) {
            if (!Float.isFinite(max[i]) || !Float.isFinite(min[i])) return fit(x.toFloatArray(), rows, cols, name);
            double lo = min[i] < 0 ? min[i] : 0, hi = max[i] > 0 ? max[i] : 0;   // the range contains 0, as in fitGroup
            paramsFor(lo * ratio, hi * ratio, sz);
            s[i] = sz[0];
            z[i] = sz[1];
        }
        return perTensor ? new QuantParams(spec.bits(), spec.symmetric(), rows, cols, 1, 1, s, z, new int[cols])
                : new QuantParams(spec.bits(), spec.symmetric(), rows, cols, rows, cols / g, s, z, QuantParams.consecutiveGroups(cols, g));
    }

    /**
     * Device rows [rows, cols] as the groups whose extremes give their parameters ([1, rows·cols] for one scale per
     * tensor, else [rows·groups, g]), or null where the parameters need the heap's path: a host tensor, a clip search
     * (it needs the values), groups that do not divide the row, no elements.
     */
    private Tensor deviceGroups(Tensor x) {
        int rows = x.size(0), cols = x.size(1);
        int g = spec.groupSize() == 0 ? cols : Math.min(spec.groupSize(), cols);
        boolean perTensor = spec.granularity() == Granularity.PER_TENSOR;
        if (!x.isOnDevice() || spec.clipping().candidates() > 1 || rows == 0 || cols == 0 || (!perTensor && cols % g != 0)) return null;
        return perTensor ? x.reshape(1, rows * cols) : x.reshape(rows * (cols / g), g);
    }

    /**
     * {@link #fit(Tensor, String)}'s scales and zero points of device rows [rows, cols], kept on the device as columns
     * {scale, zero} [n, 1] against the rows grouped as [n, rows·cols / n] ({@code Quantizer.columns}' layout): the
     * groups' extremes and the backend's {@code fakeQuantParams} ({@link #paramsFor}'s rule, its bits), so nothing
     * goes to the heap and back. Null where fit takes the heap's path or the backend cannot (no f64). Values that are
     * not finite are not refused here as fit refuses them: they give a NaN or infinite scale, which the quantized
     * values carry, so only the tape takes this path (the training loop stops on a loss that is not finite).
     */
    Tensor[] fitOnDevice(Tensor x) {
        Tensor groups = x.dim() == 2 ? deviceGroups(x) : null;
        return groups == null ? null : paramsOnDevice(groups.max(-1, false), groups.min(-1, false));
    }

    /** The backend's {@code fakeQuantParams} for groups with these extremes, by this spec (null: it cannot). */
    private Tensor[] paramsOnDevice(Tensor max, Tensor min) {
        return Backends.current().fakeQuantParams(max, min, spec.clipping().ratio(0), qmax, spec.symmetric(), MIN_SCALE);
    }

    /**
     * {@link #fitOnDevice} for a quantization off the tape (evaluation, inference), which must refuse a value that is not
     * finite as {@link #fit(Tensor, String)} does: the parameters are made on the device from the groups' extremes, and
     * the extremes come down once (max and min in one read) only to be checked, where fit brought them down in two reads
     * and sent the parameters back up. A value that is not finite takes fit's heap path, which names it. Null where
     * fitOnDevice is.
     */
    Tensor[] fitOnDeviceChecked(Tensor x, String name) {
        Tensor groups = x.dim() == 2 ? deviceGroups(x) : null;
        if (groups == null) return null;
        Tensor max = groups.max(-1, false), min = groups.min(-1, false);
        Tensor[] c = paramsOnDevice(max, min);
        if (c == null) return null;
        for (float v : Tensor.concat(0, max, min).toFloatArray())
            if (!Float.isFinite(v)) {
                fit(x.toFloatArray(), x.size(0), x.size(1), name); // throws, naming the element
                return null;
            }
        return c;
    }

    /**
     * Static per-tensor parameters from a range observed on calibration data (the spec's fixed clip ratio applied).
     * A search needs the data itself, so it is refused here.
     */
    public QuantParams fitRange(double min, double max, int rows, int cols, String name) {
        if (!Double.isFinite(min) || !Double.isFinite(max))
            throw new IllegalArgumentException("quantize " + name + ": the calibrated range [" + min + ", " + max + "] is not finite");
        if (spec.clipping().kind() == Clipping.Kind.SEARCH)
            throw new IllegalArgumentException("quantize " + name + ": a clip search needs the values, not a calibrated range (use clip(r))");
        float[] sz = new float[2];
        double r = spec.clipping().ratio(0);
        paramsFor(Math.min(min, 0) * r, Math.max(max, 0) * r, sz);
        return new QuantParams(spec.bits(), spec.symmetric(), rows, cols, 1, 1, new float[]{sz[0]}, new float[]{sz[1]}, new int[cols]);
    }

    // ------------------------------------------------------------ applying them

    /** y = fake-quantized x under p (x row-major [p.rows, p.cols]). */
    public static float[] apply(float[] x, QuantParams p) {
        float[] y = new float[x.length];
        int rows = p.rows(), cols = p.cols(), qmin = p.qmin(), qmax = p.qmax();
        Parallel.forRange(rows, Math.max(1, 64_000 / Math.max(cols, 1)), (r0, r1) -> {
            for (int r = r0; r < r1; r++)
                for (int c = 0, i = r * cols; c < cols; c++, i++) {
                    int k = p.index(r, c);
                    y[i] = fakeQuant(x[i], p.scale()[k], p.zero()[k], qmin, qmax);
                }
        });
        return y;
    }

    /** Rows of the last axis: [rows, cols] of a tensor of this shape. */
    static int[] rowsCols(int[] shape, String name) {
        if (shape.length == 0) throw new IllegalArgumentException("quantize " + name + ": a scalar has no rows to quantize");
        int cols = shape[shape.length - 1];
        long rows = Shape.numel(shape) / Math.max(cols, 1);
        return new int[]{(int) rows, cols};
    }

    /** Quantize–dequantize with parameters found on x itself (dynamic, or a weight quantized once). */
    public Tensor fakeQuant(Tensor x, String name) {
        int[] rc = rowsCols(x.shape(), name);
        if (x.isOnDevice()) { // fitted from the groups' extremes and applied there, with tensor ops (the same values)
            Tensor rows = x.reshape(rc[0], rc[1]);
            return fakeQuantSte(Var.of(rows), fit(rows, name)).value().reshape(x.shape());
        }
        float[] v = x.toFloatArray();
        return Tensor.wrap(apply(v, fit(v, rc[0], rc[1], name)), x.shape());
    }

    /** Quantize–dequantize with given (static) parameters. */
    public static Tensor fakeQuant(Tensor x, QuantParams p, String name) {
        int[] rc = rowsCols(x.shape(), name);
        if (p.paramRows() == 1 && p.groups() == 1) {
            // one static scale for any number of tokens; on a device with its element-wise ops, the same f32 operations
            // (x / s, rint, + z, clamp, − z, · s), once the largest |x| (one value over) shows every value is finite
            float s = p.scale()[0], z = p.zero()[0];
            if (x.isOnDevice() && x.numel() > 0 && Float.isFinite(x.reshape(1, -1).abs().max(-1, false).item()))
                return x.div(s).round().add(z).clamp(p.qmin(), p.qmax()).sub(z).mul(s);
            float[] v = x.toFloatArray();
            int qmin = p.qmin(), qmax = p.qmax();
            for (int i = 0; i < v.length; i++) {
                if (!Float.isFinite(v[i])) throw notFinite(name, v[i], i, rc[1]);
                v[i] = fakeQuant(v[i], s, z, qmin, qmax);
            }
            return Tensor.wrap(v, x.shape());
        }
        if (rc[0] != p.rows() || rc[1] != p.cols())
            throw new IllegalArgumentException("quantize " + name + ": parameters for " + p.rows() + "×" + p.cols() + ", tensor is " + Shape.str(x.shape()));
        return Tensor.wrap(apply(x.toFloatArray(), p), x.shape());
    }

    /**
     * Fake quantization on the tape. Without a gradient to carry it is {@link #fakeQuant(Tensor, String)}; with one,
     * the scales and zero points come from x's value (constants, as dynamic quantization treats them) and x passes
     * through autograd's {@link FakeQuant#quantize}, whose straight-through rounding gives dy/dx = 1 inside the grid
     * and 0 where clamped. The forward value is the same bit for bit either way.
     */
    public Var fakeQuant(Var x, String name) {
        if (!x.requiresGrad()) return Var.of(fakeQuant(x.value(), name));
        int[] shape = x.shape(), rc = rowsCols(shape, name);
        QuantParams p = fit(x.value().reshape(rc[0], rc[1]), name);
        return fakeQuantSte(x, p).reshape(shape);
    }

    /** {@link FakeQuant#quantize} of x viewed as [rows, cols], with p's scales and zeros spread to every element. */
    public static Var fakeQuantSte(Var x, QuantParams p) {
        Tensor[] c = x.value().isOnDevice() ? columns(p) : null;
        if (c != null) return FakeQuant.quantize(x.reshape(c[0].size(0), -1), Var.of(c[0]), Var.of(c[1]), p.qmin(), p.qmax()).reshape(p.rows(), p.cols());
        Tensor[] sz = perElement(p);
        return FakeQuant.quantize(x.reshape(p.rows(), p.cols()), Var.of(sz[0]), Var.of(sz[1]), p.qmin(), p.qmax());
    }

    /**
     * p's scales and zero points as [n, 1] columns against x [rows, cols] viewed as [n, cols·rows / n], when that view
     * lines every element up with its parameters: one scale for the tensor (n = 1), or per row in consecutive equal
     * groups (n = rows × groups); null for another layout. A device tensor is quantized with these rather than with
     * {@link #perElement} copies of its own size (which would go over to the device with every call); the element-wise
     * operations, and so the values, are the same.
     */
    private static Tensor[] columns(QuantParams p) {
        boolean perTensor = p.paramRows() == 1 && p.groups() == 1 && p.scale().length == 1;
        if (!perTensor && !rowGroups(p)) return null;
        int n = perTensor ? 1 : p.rows() * p.groups();
        return new Tensor[]{Tensor.of(p.scale(), n, 1), Tensor.of(p.zero(), n, 1)};
    }

    /** p's scale and zero point of every element of its [rows, cols] matrix. */
    private static Tensor[] perElement(QuantParams p) {
        int rows = p.rows(), cols = p.cols();
        float[] s = new float[rows * cols], z = new float[rows * cols];
        for (int r = 0, i = 0; r < rows; r++)
            for (int c = 0; c < cols; c++, i++) {
                int k = p.index(r, c);
                s[i] = p.scale()[k];
                z[i] = p.zero()[k];
            }
        return new Tensor[]{Tensor.wrap(s, rows, cols), Tensor.wrap(z, rows, cols)};
    }

    /**
     * Fake quantization of x [rows, cols] with p's scales and zero points on the tape, the gradient reaching x through
     * each row's (or row group's) scale as well as through the straight-through rounding. Where every row, or every
     * group of consecutive columns dividing a row, has its own scale and the range is not clipped, the scale is also
     * computed on the tape from the group's extremes, s = (max(x, 0) − min(x, 0)) / qmax (symmetric: max(|min|, max) /
     * qmax), as the reference quantizers take it from {@code amax}/{@code amin}: the loss then reaches x through the
     * scale too (the LSQ term round(x/s) − x/s that carries the rounding error), without which a learnable transform in
     * front of the quantizer would see the gradient of the full-precision function only. The value is still p's
     * exactly ({@link #exactOnTape}). The zero point is a constant, as the references round it with
     * {@code torch.round}, whose gradient is 0. Other layouts (per tensor, ragged groups) and clipped ranges keep p's
     * values as constants. The forward value is {@link #apply}'s bit for bit either way.
     */
    public static Var fakeQuantThroughRange(Var x, QuantParams p, Clipping clipping, Ste ste) {
        int rows = p.rows(), cols = p.cols(), groups = p.groups();
        if (x.shape().length != 2 || x.shape()[0] != rows || x.shape()[1] != cols)
            throw new IllegalArgumentException("fake quant: parameters for " + rows + "×" + cols + ", tensor is " + Shape.str(x.shape()));
        if (clipping.kind() != Clipping.Kind.NONE || !rowGroups(p)) return fakeQuantSte(x, p, ste);
        int n = rows * groups;
        return fakeQuantThroughRange(x.reshape(n, cols / groups), Tensor.of(p.scale(), n, 1), Tensor.of(p.zero(), n, 1),
                p.symmetric(), p.qmin(), p.qmax(), ste).reshape(rows, cols);
    }

    /**
     * {@link #fakeQuantThroughRange(Var, QuantParams, Clipping, Ste)} of x grouped as [n, g], each group's exact scale
     * and zero point given as columns [n, 1] (on the heap, or where a device computed them).
     */
    static Var fakeQuantThroughRange(Var grouped, Tensor scale, Tensor zero, boolean symmetric, int qmin, int qmax, Ste ste) {
        int n = grouped.shape()[0];
        Var zeros = Var.of(Tensor.zeros(1, 1).expand(n, 1)); // one 0 broadcast: a device reads it as a cached scalar
        Var hi = ste.max(grouped).maximum(zeros), lo = ste.min(grouped).minimum(zeros);
        Var s = exactOnTape(rangeScale(hi, lo, symmetric, qmax), scale, ste);
        return ste.fakeQuant(grouped, s, Var.of(ste.constant(zero)), qmin, qmax);
    }

    /** Whether every row has its own parameters, for consecutive groups of equal size that divide the row. */
    private static boolean rowGroups(QuantParams p) {
        int cols = p.cols(), groups = p.groups();
        return p.paramRows() == p.rows() && groups > 0 && cols % groups == 0
                && java.util.Arrays.equals(p.groupOf(), QuantParams.consecutiveGroups(cols, cols / groups));
    }

    /** The scale of a range [lo, hi] ∋ 0 on the tape: (hi − lo) / qmax, symmetric max(hi, −lo) / qmax. */
    static Var rangeScale(Var hi, Var lo, boolean symmetric, int qmax) {
        return (symmetric ? hi.maximum(lo.neg()) : hi.sub(lo)).div((float) qmax);
    }

    /**
     * {@code onTape} with the value {@code exact}: onTape + (exact − onTape), the difference frozen. Both are one scale
     * computed in f32 on the tape and in f64 by {@link #paramsFor}, a few ulps apart (or a floor where the range is
     * empty), so the difference is exact (Sterbenz) and so is the sum: the value is {@code exact} bit for bit, the
     * gradient onTape's.
     */
    static Var exactOnTape(Var onTape, Tensor exact, Ste ste) {
        return onTape.add(Var.of(ste.constant(exact.sub(onTape.value()))));
    }

    /** {@link FakeQuant#quantize} of x viewed as [rows, cols] with p's values as constants, rounded and clamped by {@code ste}. */
    static Var fakeQuantSte(Var x, QuantParams p, Ste ste) {
        Tensor[] c = x.value().isOnDevice() ? columns(p) : null;
        if (c != null)
            return ste.fakeQuant(x.reshape(c[0].size(0), -1), Var.of(ste.constant(c[0])), Var.of(ste.constant(c[1])), p.qmin(), p.qmax()).reshape(p.rows(), p.cols());
        Tensor[] sz = perElement(p);
        return ste.fakeQuant(x.reshape(p.rows(), p.cols()), Var.of(ste.constant(sz[0])), Var.of(ste.constant(sz[1])), p.qmin(), p.qmax());
    }

    /** The error for a value that is not finite: the tensor, the row and column in a row-major [*, cols] view, the element. */
    /**
     * The rows an activation is quantized in, [rows, features], the one place every activation quantizer (inference,
     * learning, OmniQuant's, FlatQuant's LAC) takes them from: Q, K or V [B, T, heads, headDim] give one row per token over
     * all heads, or one per token and head when {@code spec} is per head; anything else one row per vector of its last
     * axis (a token of a linear layer's input). Reshape the result back with {@code x.shape()}.
     */
    public static Var rows(Var x, QuantSpec spec) {
        int[] s = x.shape();
        if (s.length == 4 && spec.granularity() != QuantSpec.Granularity.PER_HEAD) return x.reshape(s[0] * s[1], s[2] * s[3]);
        return x.reshape(-1, s[s.length - 1]);
    }

    public static IllegalArgumentException notFinite(String name, float v, int index, int cols) {
        String where = cols > 0 ? "row " + index / cols + ", column " + index % cols : "element " + index;
        return new IllegalArgumentException("quantize " + name + ": " + v + " at " + where
                + " (element " + index + "); quantization needs finite values");
    }

    @Override public String toString() { return "Quantizer[" + spec + "]"; }
}
