package dev.stiefel.quant.transform;

import dev.stiefel.riemann.hadamard.Hadamard;
import dev.stiefel.riemann.hadamard.HadamardMatrix;
import dev.stiefel.riemann.hadamard.HadamardTransform;
import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.Tensor;

/**
 * M = diag(σ)·H/√n with H = H_{2^k} ⊗ B (Sylvester times a ±1 block), σ optional signs. A row x seen as the
 * [2^k, m] matrix X gives x·H = S·X·B (S symmetric): X·B per slab, then the Walsh–Hadamard butterfly across the
 * 2^k slabs, in f64 here and by {@link HadamardTransform} (the same factorization) in f32.
 */
final class HadamardRotation implements Rotation {
    private final int n, p, m;
    private final double[] block;    // B, row-major m×m, ±1
    private final double[] signs;    // σ, or null
    private final float[] signsF;
    private final long seed;         // the seed σ was drawn from (Rotation.randomHadamard), -1 without signs
    private final double scale;      // 1/√n
    private final HadamardTransform fast;
    private final String description;

    HadamardRotation(int n, double[] signs, long seed) {
        HadamardMatrix h = Hadamard.matrix(n);
        this.n = n;
        this.p = h.powerOfTwo();
        this.m = h.blockOrder();
        byte[] b = h.block();
        this.block = new double[b.length];
        for (int i = 0; i < b.length; i++) block[i] = b[i];
        this.signs = signs;
        this.seed = seed;
        if (signs != null) {
            signsF = new float[n];
            for (int i = 0; i < n; i++) signsF[i] = (float) signs[i];
        } else signsF = null;
        this.scale = 1 / Math.sqrt(n);
        this.fast = HadamardTransform.of(h).normalized();
        this.description = (signs == null ? "Hadamard " : "randomized Hadamard ") + n + " (" + h.construction()
                + (signs == null ? "" : ", seed " + seed) + ")";
    }

    @Override public int size() { return n; }

    @Override public String describe() { return description; }

    /** Whether M has random signs σ (QuaRot's randomized Hadamard), drawn from {@link #seed}. */
    boolean randomized() { return signs != null; }

    long seed() { return seed; }

    @Override public void multiplyRows(double[] data, int offset, int count) {
        Parallel.forRange(count, Math.max(1, 4096 / n), (r0, r1) -> {
            double[] tmp = new double[m];
            for (int r = r0; r < r1; r++) {
                int off = offset + r * n;
                if (signs != null) for (int i = 0; i < n; i++) data[off + i] *= signs[i];
                hadamard(data, off, false, tmp);
            }
        });
    }

    @Override public void multiplyRowsTransposed(double[] data, int offset, int count) {
        Parallel.forRange(count, Math.max(1, 4096 / n), (r0, r1) -> {
            double[] tmp = new double[m];
            for (int r = r0; r < r1; r++) {
                int off = offset + r * n;
                hadamard(data, off, true, tmp);
                if (signs != null) for (int i = 0; i < n; i++) data[off + i] *= signs[i];
            }
        });
    }

    /** x ← x·H/√n (or x·Hᵀ/√n) for one row at off. */
    private void hadamard(double[] x, int off, boolean transposed, double[] tmp) {
        if (m > 1) { // X·B (or X·Bᵀ), slab by slab
            for (int a = 0; a < p; a++) {
                int seg = off + a * m;
                for (int d = 0; d < m; d++) {
                    double s = 0;
                    for (int c = 0; c < m; c++) s += x[seg + c] * (transposed ? block[d * m + c] : block[c * m + d]);
                    tmp[d] = s;
                }
                System.arraycopy(tmp, 0, x, seg, m);
            }
        }
        for (int h = 1; h < p; h <<= 1) // S·X: the butterfly across slabs
            for (int i = 0; i < p; i += 2 * h)
                for (int j = i; j < i + h; j++) {
                    int u = off + j * m, v = off + (j + h) * m;
                    for (int c = 0; c < m; c++) {
                        double a = x[u + c], b = x[v + c];
                        x[u + c] = a + b;
                        x[v + c] = a - b;
                    }
                }
        for (int i = 0; i < n; i++) x[off + i] *= scale;
    }

    @Override public Tensor multiply(Tensor x) {
        return fast.multiply(signsF == null ? x : x.mul(Tensor.wrap(signsF, n)));
    }

    @Override public Tensor multiplyTransposed(Tensor x) {
        Tensor y = fast.multiplyTransposed(x);
        return signsF == null ? y : y.mul(Tensor.wrap(signsF, n));
    }

    @Override public String toString() { return description; }
}
