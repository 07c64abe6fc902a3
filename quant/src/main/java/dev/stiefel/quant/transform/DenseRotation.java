package dev.stiefel.quant.transform;

import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;

/** An orthogonal matrix held densely: n² work per row in both precisions. */
final class DenseRotation implements Rotation {
    /** Largest max |MᵀM − I| accepted: folding uses Mᵀ as M⁻¹. */
    static final double TOLERANCE = 1e-6;

    private final DMatrix m;
    private final Tensor f32;
    private final String description;
    /** The seed of {@link Rotation#randomOrthogonal} that drew it, or -1 for any other matrix (a learned one). */
    final long seed;

    DenseRotation(DMatrix m, String description) { this(m, description, -1); }

    DenseRotation(DMatrix m, String description, long seed) {
        this.seed = seed;
        if (!m.isSquare()) throw new IllegalArgumentException("rotation " + description + ": needs a square matrix, got " + m.shape());
        double err = Linalg.orthogonalityError(m);
        if (!(err <= TOLERANCE))
            throw new IllegalArgumentException("rotation " + description + ": not orthogonal, max |MᵀM − I| = " + err + " > " + TOLERANCE);
        this.m = m.copy();
        this.f32 = DoubleWeights.tensor(m);
        this.description = description;
    }

    @Override public int size() { return m.rows; }

    @Override public String describe() { return description; }

    @Override public DMatrix matrix() { return m.copy(); }

    @Override public void multiplyRows(double[] data, int offset, int count) { apply(data, offset, count, false); }

    @Override public void multiplyRowsTransposed(double[] data, int offset, int count) { apply(data, offset, count, true); }

    private void apply(double[] data, int offset, int count, boolean transposed) {
        int n = m.rows;
        double[] a = m.data;
        Parallel.forRange(count, Math.max(1, 65536 / (n * n) + 1), (r0, r1) -> {
            double[] y = new double[n];
            for (int r = r0; r < r1; r++) {
                int off = offset + r * n;
                java.util.Arrays.fill(y, 0);
                for (int i = 0; i < n; i++) {
                    double xi = data[off + i];
                    if (xi == 0) continue;
                    if (!transposed) for (int j = 0; j < n; j++) y[j] += xi * a[i * n + j];   // y = x·M
                    else for (int j = 0; j < n; j++) y[j] += xi * a[j * n + i];               // y = x·Mᵀ
                }
                System.arraycopy(y, 0, data, off, n);
            }
        });
    }

    @Override public Tensor multiply(Tensor x) { return rows(x, f32); }

    @Override public Tensor multiplyTransposed(Tensor x) { return rows(x, f32.t()); }

    private Tensor rows(Tensor x, Tensor mat) {
        int[] s = x.shape();
        return x.contiguous().reshape(-1, m.rows).matmul(mat).reshape(s);
    }

    @Override public String toString() { return description; }
}
