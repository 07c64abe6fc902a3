package dev.stiefel.quant.method;

import dev.stiefel.tensor.FloatStorage;
import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.Tensor;

/**
 * The layer-wise Hessian of GPTQ's objective ||WX − ŴX||²: H = 2 X Xᵀ over the calibration tokens, accumulated
 * in f64 one sample at a time and divided by the token count (GPTQ's {@code add_batch} keeps a running mean the same
 * way; the scale does not change the result, since the dampening is relative to H's own diagonal).
 */
public final class Hessian {
    private final int n;
    private final double[] sum;
    private long tokens;

    public Hessian(int features) {
        this.n = features;
        this.sum = new double[features * features];
    }

    public int features() { return n; }

    public long tokens() { return tokens; }

    /** Adds the tokens x [tokens, features]: Σ x xᵀ as one f32 product Xᵀ·X per call, summed in f64. */
    public void add(Tensor x) {
        if (x.dim() != 2 || x.size(1) != n)
            throw new IllegalArgumentException("hessian: expected inputs [tokens, " + n + "], got " + dev.stiefel.tensor.Shape.str(x.shape()));
        Tensor p = x.t().matmul(x);
        // the product's own array when it is one (a 7B down_proj's is 485 MB: no second copy), summed in row ranges
        float[] xtx = p.isContiguous() && p.offset() == 0 && p.storage() instanceof FloatStorage f && f.data().length == sum.length
                ? f.data() : p.toFloatArray();
        Parallel.forRange(n, Math.max(1, (1 << 16) / n), (r0, r1) -> {
            for (int i = r0 * n; i < r1 * n; i++) sum[i] += xtx[i];
        });
        tokens += x.size(0);
    }

    /**
     * H = 2/N Σ x xᵀ, [features × features] row-major, a fresh copy. The blocked f32 product sums h_ij and h_ji in
     * different orders, so the two triangles are averaged to give an exactly symmetric matrix.
     */
    public double[] matrix() {
        if (tokens == 0) throw new IllegalStateException("hessian: no calibration tokens were added");
        double[] h = new double[sum.length];
        double f = 1.0 / tokens; // 2/N, halved by the average of the two triangles
        final int tile = 64;     // tile pairs, so that the column-wise reads of sum stay in cache
        for (int i0 = 0; i0 < n; i0 += tile)
            for (int j0 = 0; j0 < n; j0 += tile)
                for (int i = i0; i < Math.min(n, i0 + tile); i++)
                    for (int j = j0; j < Math.min(n, j0 + tile); j++) h[i * n + j] = (sum[i * n + j] + sum[j * n + i]) * f;
        return h;
    }
}
