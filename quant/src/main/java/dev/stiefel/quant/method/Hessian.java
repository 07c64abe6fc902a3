package dev.stiefel.quant.method;

import dev.stiefel.tensor.FloatStorage;
import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.cpu.Sgemm;
import dev.stiefel.tensor.cpu.StridedMatrix;
import dev.stiefel.tensor.linalg.UpperTiles;

/**
 * The layer-wise Hessian of GPTQ's objective ||WX − ŴX||²: H = 2 X Xᵀ over the calibration tokens, accumulated
 * in f64 one sample at a time and divided by the token count (GPTQ's {@code add_batch} keeps a running mean the same
 * way; the scale does not change the result, since the dampening is relative to H's own diagonal).
 */
public final class Hessian {
    private final int n;
    /** Rows per panel of the upper-triangle product: the panels' diagonal squares cost n·PANEL/2 extra multiply-adds. */
    static final int PANEL = 256;
    private final double[] sum;
    private float[] product;
    private long tokens;

    public Hessian(int features) {
        this.n = features;
        this.sum = new double[features * features];
    }

    public int features() { return n; }

    public long tokens() { return tokens; }

    /**
     * Adds the tokens x [tokens, features]: Σ x xᵀ as one f32 product XᵀX per call, summed in f64. XᵀX is symmetric,
     * so only its upper triangle is computed, in panels of {@link #PANEL} rows: C[i0.., i0..] = Xᵀ[i0.., :]·X[:, i0..]
     * (half the multiply-adds, plus the panels' diagonal squares).
     */
    public void add(Tensor x) {
        if (x.dim() != 2 || x.size(1) != n)
            throw new IllegalArgumentException("hessian: expected inputs [tokens, " + n + "], got " + dev.stiefel.tensor.Shape.str(x.shape()));
        int t = x.size(0);
        float[] xs = x.isContiguous() && x.offset() == 0 && x.storage() instanceof FloatStorage f && f.data().length == t * n
                ? f.data() : x.contiguous().toFloatArray();
        if (product == null) product = new float[n * n];   // reused: a 7B down_proj's is 485 MB
        for (int i0 = 0; i0 < n; i0 += PANEL) {
            int m = Math.min(PANEL, n - i0);
            StridedMatrix xt = StridedMatrix.of(xs, i0, m, t, 1, n);           // Xᵀ rows i0..i0+m: (i, k) at k·n + i0 + i
            StridedMatrix right = StridedMatrix.of(xs, i0, t, n - i0, n, 1);  // X columns i0..n
            Sgemm.gemm(xt, right, product, i0 * n + i0, n, false, Parallel.threads());
        }
        Parallel.forRange(n, Math.max(1, (1 << 16) / n), (r0, r1) -> {
            for (int i = r0; i < r1; i++)
                for (int j = i, at = i * n; j < n; j++) sum[at + j] += product[at + j];   // the upper triangle
        });
        tokens += t;
    }

    /**
     * H = 2/N Σ x xᵀ, [features × features] row-major, a fresh copy: the upper triangle as summed, mirrored into the
     * lower one (exactly symmetric). Releases the product buffer: the Hessian is complete.
     */
    public double[] matrix() {
        if (tokens == 0) throw new IllegalStateException("hessian: no calibration tokens were added");
        product = null;
        double[] h = new double[sum.length];
        double f = 2.0 / tokens;
        UpperTiles.forEach(n, true, (i, from, to) -> { for (int j = from; j < to; j++) h[i * n + j] = h[j * n + i] = sum[i * n + j] * f; });
        return h;
    }
}
