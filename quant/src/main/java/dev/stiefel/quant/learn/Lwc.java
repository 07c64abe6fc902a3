package dev.stiefel.quant.learn;

import dev.stiefel.quant.Parameters;
import dev.stiefel.quant.Ste;
import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.quant.QuantParams;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.pipeline.Steps;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Learnable weight clipping (OmniQuant, Shao et al. 2024, §3.2, eq. 2) for one weight matrix W [rows, cols]: every
 * row, or every group of {@code g} consecutive columns of a row, has two parameters γ and β, and the grid covers
 * [σ(β)·min, σ(γ)·max] of its own values instead of [min, max]:
 * <pre>
 *   h = (σ(γ)·max(W) − σ(β)·min(W)) / (2^N − 1),   z = −round(σ(β)·min(W) / h)
 *   Ŵ = (clamp(round_ste(W / h) + z, 0, 2^N − 1) − z) · h
 * </pre>
 * γ = β = 4 at the start (σ(4) ≈ 0.982), as the reference's {@code UniformAffineQuantizer} initialises
 * {@code upbound_factor} and {@code lowbound_factor}. As there, max and min are differentiable (the gradient reaches
 * the extreme elements, and through them a learnable equivalent transformation), the step h is clamped to
 * [1e-5, 1e4], and the rounded zero point carries no gradient (torch's round has none), so γ and β learn through h.
 * Symmetric specs use h = max(σ(γ)·max, −σ(β)·min) / (2^(N−1) − 1) on the grid [−2^(N−1), 2^(N−1) − 1] with z = 0.
 *
 * <p>Unlike the quant core's {@code Quantizer}, the range is not widened to contain 0 (the reference does not); a
 * group whose values all share one sign then has its zero point outside the grid, which represents it just as well.
 * A last group narrower than {@code g} (cols not a multiple of g) gets its own pair of parameters, like any other.
 */
public final class Lwc implements WeightQuantizer {
    /** The reference's initial γ and β: σ(4) ≈ 0.982 keeps 98% of the range. */
    public static final float INIT = 4f;
    static final float MIN_STEP = 1e-5f, MAX_STEP = 1e4f;

    /** Columns [from, from + width) cut into groups of {@code groupWidth}, with one γ and β per (row, group). */
    private record Segment(int from, int width, int groupWidth, Var gamma, Var beta) {
        int groups() { return width / groupWidth; }
    }

    private final QuantSpec spec;
    private final int rows, cols, groups;
    private final List<Segment> segments = new ArrayList<>();

    /** Clipping parameters for a [rows, cols] weight quantized per row or per group as {@code spec} says. */
    public Lwc(QuantSpec spec, int rows, int cols) { this(spec, rows, cols, null); }

    /**
     * With given parameters (γ, β of the whole groups, then γ, β of the narrower last group if there is one), each
     * [rows·groups, 1]; null: fresh ones at {@link #INIT}. Gradient checks pass their own.
     */
    public Lwc(QuantSpec spec, int rows, int cols, List<Var> params) {
        if (spec.granularity() == QuantSpec.Granularity.PER_TENSOR)
            throw new IllegalArgumentException("lwc: learnable clipping is per output channel or per group, not per tensor (" + spec + ")");
        if (rows < 1 || cols < 1) throw new IllegalArgumentException("lwc: empty weight " + rows + "×" + cols);
        this.spec = spec;
        this.rows = rows;
        this.cols = cols;
        int g = spec.groupSize() == 0 ? cols : Math.min(spec.groupSize(), cols);
        int full = cols / g, tail = cols % g;
        segments.add(segment(0, full * g, g, params, 0));
        if (tail > 0) segments.add(segment(full * g, tail, tail, params, 2));
        this.groups = full + (tail > 0 ? 1 : 0);
        if (params != null && params.size() != 2 * segments.size())
            throw new IllegalArgumentException("lwc: " + params.size() + " parameters given, " + 2 * segments.size() + " needed");
    }

    private Segment segment(int from, int width, int groupWidth, List<Var> params, int at) {
        int n = rows * (width / groupWidth);
        if (params == null) return new Segment(from, width, groupWidth, Parameters.of(Tensor.full(INIT, n, 1)), Parameters.of(Tensor.full(INIT, n, 1)));
        for (int i = at; i < at + 2; i++)
            if (!java.util.Arrays.equals(params.get(i).shape(), new int[]{n, 1}))
                throw new IllegalArgumentException("lwc: parameter " + i + " is " + java.util.Arrays.toString(params.get(i).shape()) + ", expected [" + n + ", 1]");
        return new Segment(from, width, groupWidth, params.get(at), params.get(at + 1));
    }

    public QuantSpec spec() { return spec; }

    public int rows() { return rows; }

    public int cols() { return cols; }

    /** Groups per row (1 for per-channel). */
    public int groups() { return groups; }

    /** γ and β of every segment (γ, β, γ, β, ...), each [rows·groups of the segment, 1]. */
    @Override public List<Var> parameters() {
        List<Var> out = new ArrayList<>();
        for (Segment s : segments) { out.add(s.gamma()); out.add(s.beta()); }
        return out;
    }

    /** γ of group j of row r. */
    public float gamma(int r, int j) { return at(r, j, true); }

    /** β of group j of row r. */
    public float beta(int r, int j) { return at(r, j, false); }

    private float at(int r, int j, boolean upper) {
        int first = 0;
        for (Segment s : segments) {
            if (j < first + s.groups()) return (upper ? s.gamma() : s.beta()).value().get(r * s.groups() + j - first, 0);
            first += s.groups();
        }
        throw new IndexOutOfBoundsException("lwc: group " + j + " of " + groups);
    }

    /** Ŵ of eq. 2 on the tape: gradients reach γ, β and (through the straight-through rounding) W itself. */
    @Override public Var quantize(Var w, Ste ste) {
        int[] s = w.shape();
        if (s.length != 2 || s[0] != rows || s[1] != cols)
            throw new IllegalArgumentException("lwc: clipping parameters for " + rows + "×" + cols + ", weight is " + java.util.Arrays.toString(s));
        Var[] parts = new Var[segments.size()];
        for (int i = 0; i < parts.length; i++) {
            Segment seg = segments.get(i);
            Var x = parts.length == 1 ? w : w.narrow(1, seg.from(), seg.width());
            Var grouped = x.reshape(rows * seg.groups(), seg.groupWidth());
            Var[] hz = stepAndZero(grouped, seg, ste);
            parts[i] = ste.fakeQuant(grouped, hz[0], hz[1], spec.qmin(), spec.qmax()).reshape(rows, seg.width());
        }
        return parts.length == 1 ? parts[0] : Var.concat(1, parts);
    }

    /** The step h and zero point z of every group of a segment, [groups, 1] each. */
    private Var[] stepAndZero(Var grouped, Segment seg, Ste ste) {
        Var xmax = seg.gamma().sigmoid().mul(ste.max(grouped));
        Var xmin = seg.beta().sigmoid().mul(ste.min(grouped));
        if (spec.symmetric()) {
            Var h = ste.clamp(xmax.maximum(xmin.neg()).div((float) spec.qmax()), MIN_STEP, MAX_STEP);
            return new Var[]{h, Var.of(Tensor.zeros(h.shape()))};
        }
        Var h = ste.clamp(xmax.sub(xmin).div((float) spec.qmax()), MIN_STEP, MAX_STEP);
        // z = round(−xmin / h): a constant on the tape, as in the reference
        Tensor z = ste.constant(xmin.value().neg().div(h.value()).round());
        return new Var[]{h, Var.of(z)};
    }

    /**
     * The quantized weight with the learned clipping: what is written into the model, as packed codes where a packed
     * matrix holds the grid (checked equal to the f32 values bit for bit), so a large model's result is not f32.
     */
    @Override public Tensor fold(Tensor w) {
        Tensor folded;
        try (var off = Grad.off()) {
            folded = quantize(Var.of(w), Ste.STRAIGHT_THROUGH).value();
        }
        return Steps.packedOrFolded(w.toFloatArray(), folded, params(w), spec, "lwc " + rows + "×" + cols);
    }

    /**
     * The learned grid as the quant core's scale/zero table: {@code Quantizer.apply(W, params(W))} equals
     * {@link #fold} bit for bit, so the result packs like any other (the packed model's codes are found from it).
     */
    public QuantParams params(Tensor w) {
        float[] scale = new float[rows * groups], zero = new float[rows * groups];
        try (var off = Grad.off()) {
            int first = 0;
            for (int i = 0; i < segments.size(); i++) {
                Segment seg = segments.get(i);
                Var x = segments.size() == 1 ? Var.of(w) : Var.of(w).narrow(1, seg.from(), seg.width());
                Var[] hz = stepAndZero(x.reshape(rows * seg.groups(), seg.groupWidth()), seg, Ste.STRAIGHT_THROUGH);
                float[] h = hz[0].value().toFloatArray(), z = hz[1].value().toFloatArray();
                int gs = seg.groups();
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < gs; j++) {
                        scale[r * groups + first + j] = h[r * gs + j];
                        zero[r * groups + first + j] = z[r * gs + j];
                    }
                first += gs;
            }
        }
        int g = spec.groupSize() == 0 ? cols : Math.min(spec.groupSize(), cols);
        return new QuantParams(spec.bits(), spec.symmetric(), rows, cols, rows, groups, scale, zero, QuantParams.consecutiveGroups(cols, g));
    }

    @Override public String toString() { return "Lwc[" + rows + "×" + cols + ", " + groups + " groups, " + spec + "]"; }
}
