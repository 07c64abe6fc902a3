package dev.stiefel.quant.flat;

import dev.stiefel.autograd.Var;
import dev.stiefel.tensor.linalg.DMatrix;

/**
 * FlatQuant's online transform x ↦ x·(A ⊗ B) on rows of n = n1·n2 features (Sun et al. 2025, §3, the Kronecker decomposition): with the
 * row read as a matrix X [n1, n2] (row-major, feature i·n2 + j), x·(A ⊗ B) is Aᵀ·X·B read back row-major, two small
 * matmuls costing n·(n1 + n2) multiply-adds per row instead of the n² of a dense n × n matrix. A null factor is
 * the identity (the attention output's head transform P_o ⊗ I, or I ⊗ P on one head's features).
 */
public final class Kronecker {
    private Kronecker() {}

    /** x [..., n1·n2] times (a ⊗ b), on the tape; a is [n1, n1], b is [n2, n2], either may be null (identity). */
    public static Var apply(Var x, Var a, Var b) {
        int[] s = x.shape();
        int n = s[s.length - 1];
        if (a == null && b == null) return x;
        int n1 = a != null ? a.shape()[0] : n / b.shape()[0], n2 = b != null ? b.shape()[0] : n / n1;
        if (n1 * n2 != n) throw new IllegalArgumentException("kronecker: factors " + n1 + "×" + n2 + " do not make rows of " + n);
        Var m = x.reshape(-1, n1, n2);
        if (b != null) m = m.matmul(b);        // X·B
        if (a != null) m = a.t().matmul(m);    // Aᵀ·(X·B), Aᵀ broadcast over the rows
        return m.reshape(s);
    }

    /** The same on one row of n1·n2 doubles at {@code offset}, in place: the f64 reference. a or b may be null. */
    public static void apply(DMatrix a, DMatrix b, double[] row, int offset, int n) {
        int n1 = a != null ? a.rows : n / b.rows, n2 = b != null ? b.rows : n / n1;
        double[] xb = new double[n];
        for (int i = 0; i < n1; i++)
            for (int j = 0; j < n2; j++) {
                double sum = 0;
                if (b == null) sum = row[offset + i * n2 + j];
                else for (int k = 0; k < n2; k++) sum += row[offset + i * n2 + k] * b.data[k * n2 + j];
                xb[i * n2 + j] = sum;
            }
        for (int i = 0; i < n1; i++)
            for (int j = 0; j < n2; j++) {
                double sum = 0;
                if (a == null) sum = xb[i * n2 + j];
                else for (int k = 0; k < n1; k++) sum += a.data[k * n1 + i] * xb[k * n2 + j];
                row[offset + i * n2 + j] = sum;
            }
    }

    /**
     * FlatQuant's factor sizes for n features ({@code get_decompose_dim}): n = (a − b)(a + b) with a the smallest
     * integer ≥ √n for which a² − n is a perfect square b², so n1 = a − b ≤ n2 = a + b: 4096 = 64·64,
     * 11008 = 86·128, 14336 = 112·128; a prime n gives 1·n. That form exists only for odd n and multiples of 4 (the
     * reference loops forever on n ≡ 2 mod 4); there the pair is the largest divisor n1 ≤ √n and n / n1.
     */
    public static int[] factorSizes(int n) {
        if (n < 1) throw new IllegalArgumentException("kronecker: no factors for " + n + " features");
        if (n % 4 == 2) {
            int n1 = (int) Math.sqrt(n);
            while (n % n1 != 0) n1--;
            return new int[]{n1, n / n1};
        }
        long a = (long) Math.ceil(Math.sqrt(n));
        while (a * a < n) a++;
        while (true) {
            long d = a * a - n, b = (long) Math.sqrt(d);
            while (b * b > d) b--;
            while ((b + 1) * (b + 1) <= d) b++;
            if (b * b == d) return new int[]{(int) (a - b), (int) (a + b)};
            a++;
        }
    }
}
