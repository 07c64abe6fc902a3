package dev.stiefel.tensor.linalg;

import dev.stiefel.tensor.Parallel;

import java.util.Arrays;
import java.util.Random;
import java.util.function.IntToDoubleFunction;

/**
 * Dense f64 linear algebra for the quantizers: Cholesky (GPTQ Hessians), LU solves and inverses (FlatQuant),
 * Householder QR (Haar-random rotations, Riemannian retractions), symmetric eigendecomposition (OSTQuant
 * covariances), one-sided Jacobi SVD and the polar factor.
 *
 * <p>Everything works on row-major {@link DMatrix} data, and the loops are arranged so that the innermost one runs
 * along a contiguous row (where the JIT vectorizes it) rather than down a column. Inputs are never modified. Bad
 * input, including a matrix that is singular or not positive definite to working precision, raises an
 * {@link IllegalArgumentException} whose message names the operation and the shapes involved; an iteration that
 * fails to converge (which should not happen for finite input) raises an {@link ArithmeticException}.
 */
public final class Linalg {
    private Linalg() {}

    /** Unit roundoff of double, 2^-52. */
    static final double EPS = Math.ulp(1.0);

    /** About this many multiply-adds per task before a loop is worth splitting across the pool. */
    static final long MIN_PARALLEL_WORK = 1L << 16;

    /**
     * Inputs that must be symmetric (Cholesky, eigSymmetric) are rejected when some |a_ij - a_ji| exceeds this
     * times max |a_ij|. Matrices accumulated in f32 are usually further off than this: pass
     * {@link DMatrix#symmetricPart()}.
     */
    public static final double SYMMETRY_TOLERANCE = 1e-10;

    // ------------------------------------------------------------------------------------------------ Cholesky

    /** The lower-triangular L with A = L Lᵀ, for a symmetric positive definite A. */
    public static DMatrix cholesky(DMatrix a) {
        return upperCholesky("cholesky", a).transpose();
    }

    /** The upper-triangular U with A = Uᵀ U (U = Lᵀ), for a symmetric positive definite A. */
    public static DMatrix choleskyUpper(DMatrix a) {
        return upperCholesky("choleskyUpper", a);
    }

    /**
     * {@link #choleskyUpper} in place: a's upper triangle becomes U and its lower triangle zero, with no copy of an
     * n × n matrix (for the large factorizations of GPTQ, where each copy of a 7B down_proj's Hessian is 970 MB).
     */
    public static void choleskyUpperInPlace(DMatrix a) {
        requireSquare("choleskyUpperInPlace", a);
        requireFinite("choleskyUpperInPlace", a);
        requireSymmetric("choleskyUpperInPlace", a);
        CholeskyKernels.factorUpper("choleskyUpperInPlace", a.data, a.rows);
    }

    /**
     * Computed as the upper factor because in row-major storage its updates are row operations: with U's rows u_k,
     * A = Σ_k u_kᵀ u_k. The blocked, register-tiled work is {@link CholeskyKernels#factorUpper}.
     */
    private static DMatrix upperCholesky(String op, DMatrix a) {
        requireSquare(op, a);
        requireFinite(op, a);
        requireSymmetric(op, a);
        final double[] u = a.data.clone();
        CholeskyKernels.factorUpper(op, u, a.rows);
        return new DMatrix(a.rows, a.rows, u);
    }

    /**
     * A⁻¹ for a symmetric positive definite A. With A = Uᵀ U (U = Lᵀ) and W = U⁻¹ = L⁻ᵀ, A⁻¹ = W Wᵀ; both W and
     * the product exploit the triangular shape (about n³/6 multiply-adds each). The result is exactly symmetric.
     */
    public static DMatrix choleskyInverse(DMatrix a) {
        DMatrix u = upperCholesky("choleskyInverse", a);
        double[] w = CholeskyKernels.invertUpper(u.data, a.rows);
        CholeskyKernels.timesOwnTransposeUpper(w, a.rows, u.data);   // U is no longer needed: its array takes A⁻¹
        return u;
    }

    /**
     * The upper-triangular R with A = R Rᵀ (the "UL" Cholesky factorization, eliminating from the last row up), for a
     * symmetric positive definite A. With J the order-reversing permutation, J A J = Vᵀ V for the ordinary upper factor
     * V, and R = J Vᵀ J, so this is {@link #choleskyUpper} of the reversed matrix, read back reversed and transposed:
     * n³/6 multiply-adds. R is also U⁻¹ for A⁻¹ = UᵀU, the factor GPTQ's column loop is usually written with
     * (Frantar et al. 2023, section 3.3), without forming A⁻¹.
     */
    public static DMatrix choleskyUL(DMatrix a) {
        requireSquare("choleskyUL", a);
        requireFinite("choleskyUL", a);
        requireSymmetric("choleskyUL", a);
        int n = a.rows;
        double[] v = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) v[i * n + j] = a.data[(n - 1 - i) * n + (n - 1 - j)];
        CholeskyKernels.factorUpper("choleskyUL", v, n);   // (already checked: the reversal keeps A's values)
        double[] r = new double[n * n];
        UpperTiles.forEach(n, true, (i, from, to) -> { for (int j = from; j < to; j++) r[i * n + j] = v[(n - 1 - j) * n + (n - 1 - i)]; });
        return new DMatrix(n, n, r);
    }

    // ------------------------------------------------------------------------------------ triangular solves

    /** X with L X = B, reading only the lower triangle (diagonal included) of the square L. */
    public static DMatrix solveLowerTriangular(DMatrix l, DMatrix b) {
        requireSystem("solveLowerTriangular", l, b);
        requireNonZeroDiagonal("solveLowerTriangular", l);
        DMatrix x = b.copy();
        forColumnTiles(x, (buf, rows, width) -> forwardSubstitute(l, buf, rows, width, false));
        return x;
    }

    /** X with U X = B, reading only the upper triangle (diagonal included) of the square U. */
    public static DMatrix solveUpperTriangular(DMatrix u, DMatrix b) {
        requireSystem("solveUpperTriangular", u, b);
        requireNonZeroDiagonal("solveUpperTriangular", u);
        DMatrix x = b.copy();
        forColumnTiles(x, (buf, rows, width) -> backSubstitute(u, buf, rows, width));
        return x;
    }

    /** Solves one column tile of a right-hand side held contiguously in {@code buf} (rows x width). */
    @FunctionalInterface
    private interface TileSolver {
        void solve(double[] buf, int rows, int width);
    }

    /** Columns per tile of a triangular solve: 64 columns of 4096 rows is 2 MiB. */
    private static final int SOLVE_TILE = 64;

    /**
     * Runs {@code solver} on tiles of {@link #SOLVE_TILE} columns of x, in place. The columns of a triangular
     * solve are independent, so tiles run in parallel, and each is copied into a contiguous buffer that stays in
     * cache while the rows of the factor stream past it.
     */
    private static void forColumnTiles(DMatrix x, TileSolver solver) {
        final int n = x.rows, m = x.cols, tiles = (m + SOLVE_TILE - 1) / SOLVE_TILE;
        forEqualWork(tiles, t -> (double) n * n * SOLVE_TILE / 2, (t0, t1) -> {
            double[] buf = new double[n * SOLVE_TILE];
            for (int t = t0; t < t1; t++) {
                int c0 = t * SOLVE_TILE, w = Math.min(SOLVE_TILE, m - c0);
                for (int i = 0; i < n; i++) System.arraycopy(x.data, i * m + c0, buf, i * w, w);
                solver.solve(buf, n, w);
                for (int i = 0; i < n; i++) System.arraycopy(buf, i * w, x.data, i * m + c0, w);
            }
        });
    }

    /**
     * Back substitution on a tile: row i of X is (b_i - Σ_{k>i} u_ik x_k) / u_ii, computed bottom-up with whole-row
     * updates.
     */
    private static void backSubstitute(DMatrix u, double[] buf, int rows, int w) {
        final int n = u.cols;
        final double[] ud = u.data;
        for (int i = rows - 1; i >= 0; i--) {
            int bi = i * w, ri = i * n;
            for (int k = i + 1; k < rows; k++) {
                double f = ud[ri + k];
                int bk = k * w;
                for (int q = 0; q < w; q++) buf[bi + q] -= f * buf[bk + q];
            }
            double diag = ud[ri + i];
            for (int q = 0; q < w; q++) buf[bi + q] /= diag;
        }
    }

    /** Forward substitution on a tile: row i of X is (b_i - Σ_{k<i} l_ik x_k) / l_ii, top-down. */
    private static void forwardSubstitute(DMatrix l, double[] buf, int rows, int w, boolean unitDiagonal) {
        final int n = l.cols;
        final double[] ld = l.data;
        for (int i = 0; i < rows; i++) {
            int bi = i * w, ri = i * n;
            for (int k = 0; k < i; k++) {
                double f = ld[ri + k];
                int bk = k * w;
                for (int q = 0; q < w; q++) buf[bi + q] -= f * buf[bk + q];
            }
            if (!unitDiagonal) {
                double diag = ld[ri + i];
                for (int q = 0; q < w; q++) buf[bi + q] /= diag;
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------ LU

    /**
     * PA = LU with partial pivoting: {@code lu} holds the unit-lower L below its diagonal and U on and above it;
     * row i of PA is row {@code pivots[i]} of A; {@code sign} is det P.
     */
    public record LU(DMatrix lu, int[] pivots, int sign) {
        /** X with A X = B. */
        public DMatrix solve(DMatrix b) {
            requireSystem("solve", lu, b);
            int n = lu.rows, m = b.cols;
            DMatrix x = new DMatrix(n, m);
            for (int i = 0; i < n; i++) System.arraycopy(b.data, pivots[i] * m, x.data, i * m, m);
            forColumnTiles(x, (buf, rows, width) -> {
                forwardSubstitute(lu, buf, rows, width, true);
                backSubstitute(lu, buf, rows, width);
            });
            return x;
        }

        /** det A = sign * Π u_ii. */
        public double determinant() {
            double det = sign;
            for (int i = 0; i < lu.rows; i++) det *= lu.data[i * lu.cols + i];
            return det;
        }
    }

    /**
     * LU factorization with partial pivoting (Doolittle, right-looking: after the pivot row is chosen, every row
     * below subtracts a multiple of it; rows in parallel). Throws when A is singular to working precision: a
     * pivot no larger than n·ε·max|a_ij|.
     */
    public static LU lu(DMatrix a) {
        return factorLU("lu", a, true);
    }

    private static LU factorLU(String op, DMatrix a, boolean requireNonsingular) {
        requireSquare(op, a);
        requireFinite(op, a);
        final int n = a.rows;
        final double[] lu = a.data.clone();
        int[] pivots = new int[n];
        for (int i = 0; i < n; i++) pivots[i] = i;
        int sign = 1;
        double tiny = n * EPS * a.maxAbs();
        double[] tmp = new double[n];
        for (int k = 0; k < n; k++) {
            int p = k;
            for (int i = k + 1; i < n; i++) if (Math.abs(lu[i * n + k]) > Math.abs(lu[p * n + k])) p = i;
            if (p != k) {
                System.arraycopy(lu, p * n, tmp, 0, n);
                System.arraycopy(lu, k * n, lu, p * n, n);
                System.arraycopy(tmp, 0, lu, k * n, n);
                int t = pivots[p]; pivots[p] = pivots[k]; pivots[k] = t;
                sign = -sign;
            }
            final int rk = k * n, col = k;
            final double pivot = lu[rk + k];
            if (requireNonsingular && Math.abs(pivot) <= tiny)
                throw new IllegalArgumentException(op + ": " + a.shape() + " matrix is singular to working precision"
                        + " (pivot in column " + k + " is " + pivot + ")");
            if (pivot == 0) continue; // only for determinant(): the column is already zero below the diagonal
            int below = n - k - 1;
            Parallel.forRange(below, grain(below), (i0, i1) -> {
                for (int i = col + 1 + i0; i < col + 1 + i1; i++) {
                    int ri = i * n;
                    double f = lu[ri + col] / pivot;
                    lu[ri + col] = f;
                    for (int j = col + 1; j < n; j++) lu[ri + j] -= f * lu[rk + j];
                }
            });
        }
        return new LU(new DMatrix(n, n, lu), pivots, sign);
    }

    /** X with A X = B, via {@link #lu}; throws when A is singular to working precision. */
    public static DMatrix solve(DMatrix a, DMatrix b) {
        requireSystem("solve", a, b);
        return factorLU("solve", a, true).solve(b);
    }

    /** A⁻¹, via {@link #lu}; throws when A is singular to working precision. */
    public static DMatrix inverse(DMatrix a) {
        return factorLU("inverse", a, true).solve(DMatrix.identity(a.rows));
    }

    /** det A from the LU factorization (0 for an exactly singular matrix; no exception). */
    public static double determinant(DMatrix a) {
        return factorLU("determinant", a, false).determinant();
    }

    // ------------------------------------------------------------------------------------------------------ QR

    /** A = Q R with Q (rows x cols) having orthonormal columns and R (cols x cols) upper triangular, diag ≥ 0. */
    public record QR(DMatrix q, DMatrix r) {}

    /**
     * Thin Householder QR of a matrix with rows ≥ cols. Step k reflects column k (rows k..) onto a multiple of
     * e_k; each reflector H = I - β v vᵀ is applied to the remaining columns as "u = vᵀ A, A -= β v u", two sweeps
     * over whole rows, split by columns across the pool (columns transform independently). Q is accumulated
     * backwards, Q = H_0 (H_1 (... [I; 0])), which touches only the trailing block each time. Finally the
     * signs are fixed so that R's diagonal is non-negative; the factorization is then unique for full-rank A,
     * and QR of a Gaussian matrix gives a Haar-distributed Q.
     */
    public static QR qr(DMatrix a) {
        requireFinite("qr", a);
        if (a.rows < a.cols)
            throw new IllegalArgumentException("qr: expected rows >= cols, got " + a.shape());
        final int m = a.rows, n = a.cols;
        final double[] r = a.data.clone();
        double[][] vs = new double[n][];
        double[] betas = new double[n];
        for (int k = 0; k < n; k++) {
            double[] v = new double[m - k];
            for (int i = k; i < m; i++) v[i - k] = r[i * n + k];
            double x0 = v[0], beta = 0, alpha = x0;
            if (norm2(v, 1, v.length - 1) > 0) { // else x is already alpha e_1: H = I
                // Reflect onto alpha e_1 with alpha of sign opposite to x0, so v_0 = x0 - alpha has no cancellation.
                double norm = norm2(v);
                alpha = x0 >= 0 ? -norm : norm;
                v[0] = x0 - alpha;
                beta = 1 / (alpha * (alpha - x0)); // = 2 / vᵀv
            }
            vs[k] = v;
            betas[k] = beta;
            r[k * n + k] = alpha;
            for (int i = k + 1; i < m; i++) r[i * n + k] = 0;
            if (beta != 0) applyReflector(r, n, k, v, beta, k + 1, n);
        }
        // Thin Q: start from the first n columns of the identity and apply H_{n-1}, ..., H_0.
        final double[] q = new double[m * n];
        for (int i = 0; i < n; i++) q[i * n + i] = 1;
        for (int k = n - 1; k >= 0; k--)
            if (betas[k] != 0) applyReflector(q, n, k, vs[k], betas[k], k, n);
        // Sign correction: Q R = (Q D)(D R) with D = diag(±1) chosen so that diag(D R) ≥ 0.
        for (int k = 0; k < n; k++) {
            if (r[k * n + k] >= 0) continue;
            for (int j = k; j < n; j++) r[k * n + j] = -r[k * n + j];
            for (int i = 0; i < m; i++) q[i * n + k] = -q[i * n + k];
        }
        return new QR(new DMatrix(m, n, q), new DMatrix(n, n, Arrays.copyOf(r, n * n)));
    }

    /**
     * Applies H = I - β v vᵀ (v living on rows k..) to columns [c0, c1) of the row-major x with {@code stride}
     * columns: u = vᵀ X, then X -= β v u. Column chunks run in parallel.
     */
    private static void applyReflector(double[] x, int stride, int k, double[] v, double beta, int c0, int c1) {
        int len = v.length;
        Parallel.forRange(c1 - c0, grain(2L * len), (j0, j1) -> {
            int from = c0 + j0, to = c0 + j1;
            double[] u = new double[to - from];
            for (int i = 0; i < len; i++) {
                double vi = v[i];
                int ri = (k + i) * stride;
                for (int j = from; j < to; j++) u[j - from] += vi * x[ri + j];
            }
            for (int j = 0; j < u.length; j++) u[j] *= beta;
            for (int i = 0; i < len; i++) {
                double vi = v[i];
                int ri = (k + i) * stride;
                for (int j = from; j < to; j++) x[ri + j] -= vi * u[j - from];
            }
        });
    }

    /** A Haar-distributed random orthogonal n x n matrix: the sign-corrected Q of a Gaussian matrix. */
    public static DMatrix randomOrthogonal(int n, Random rnd) {
        if (n < 1) throw new IllegalArgumentException("randomOrthogonal: expected n >= 1, got " + n);
        return qr(DMatrix.random(n, n, rnd)).q();
    }

    /** max |QᵀQ - I|: 0 for a matrix with exactly orthonormal columns. */
    public static double orthogonalityError(DMatrix q) {
        return q.transpose().multiply(q).maxAbsDiff(DMatrix.identity(q.cols));
    }

    // -------------------------------------------------------------------------------- symmetric eigenproblem

    /** Eigenvalues in descending order; column c of {@code vectors} is the unit eigenvector of values[c]. */
    public record Eigen(double[] values, DMatrix vectors) {}

    /**
     * Eigendecomposition A = V diag(λ) Vᵀ of a symmetric matrix, λ descending, V orthogonal.
     *
     * <p>Two classic phases. (1) Householder tridiagonalization T = Qᵀ A Q. (2) Implicit symmetric QR steps with
     * Wilkinson shifts on T (bulge chasing with Givens rotations), deflating from the bottom. The rotations are
     * applied to the rows of Vᵀ (starting from Qᵀ) in batches: each batch sweeps over narrow column tiles of Vᵀ
     * that stay in cache, tiles in parallel, so the O(n³) rotation work runs on contiguous, vectorizable rows.
     */
    public static Eigen eigSymmetric(DMatrix a) {
        requireSquare("eigSymmetric", a);
        requireFinite("eigSymmetric", a);
        requireSymmetric("eigSymmetric", a);
        final int n = a.rows;
        double[] work = a.data.clone(), d = new double[n], e = new double[n], beta = new double[n];
        tridiagonalize(work, n, d, e, beta);
        double[] vt = reflectorProductTransposed(work, n, beta);
        tridiagonalQR(d, e, vt, n);

        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Arrays.sort(order, (x, y) -> Double.compare(d[y], d[x]));
        double[] values = new double[n];
        DMatrix vectors = new DMatrix(n, n);
        for (int c = 0; c < n; c++) {
            int src = order[c] * n;
            values[c] = d[order[c]];
            for (int i = 0; i < n; i++) vectors.data[i * n + c] = vt[src + i];
        }
        return new Eigen(values, vectors);
    }

    /**
     * Householder tridiagonalization in place, touching only the lower triangle of the trailing block. Step k
     * builds the reflector H_k = I - β v vᵀ that maps column k below the diagonal onto e[k]·e_1, and applies it to
     * the trailing block B on both sides as a rank-2 update: p = β B v, w = p - (β vᵀp / 2) v, B -= v wᵀ + w vᵀ.
     * The big trailing block is swept once per step: each row i first takes the previous step's pending rank-2
     * update, then adds its part of p = B v from the lower triangle alone (b_ij v_j for j ≤ i into p_i, and
     * b_ij v_i into p_j for j < i, the mirrored upper entries). Rows run in parallel, each part of them with its
     * own partial p, summed afterwards in a fixed order so that results do not depend on timing. Only column k
     * is brought up to date before the step, since v is built from it.
     * On return d and e hold the tridiagonal (e[i] couples i and i+1), row k of {@code a} holds v_k in its
     * (otherwise unused) upper part, columns k+1.., and beta[k] its β (0 when no reflection was needed).
     */
    private static void tridiagonalize(double[] a, int n, double[] d, double[] e, double[] beta) {
        final double[] v = new double[n], vPrev = new double[n], wPrev = new double[n], p = new double[n];
        boolean pending = false;
        for (int k = 0; k < n - 2; k++) {
            final int first = k + 1, len = n - first;
            if (pending)
                for (int i = k; i < n; i++) a[i * n + k] -= vPrev[i] * wPrev[k] + wPrev[i] * vPrev[k];
            d[k] = a[k * n + k];
            // Reflector for x = a[k+1.., k]: v = x - alpha e_1, alpha = -sign(x0) ||x||, beta = 2 / vᵀv.
            for (int i = first; i < n; i++) v[i] = a[i * n + k];
            double x0 = v[first], alpha = x0, b = 0;
            if (norm2(v, first + 1, len - 1) > 0) { // else x is already alpha e_1: H = I
                double norm = norm2(v, first, len);
                alpha = x0 >= 0 ? -norm : norm;
                v[first] = x0 - alpha;
                b = 1 / (alpha * (alpha - x0));
            }
            e[k] = alpha;
            beta[k] = b;
            System.arraycopy(v, first, a, k * n + first, len);
            if (b == 0 && !pending) continue;

            final boolean applyPrev = pending, reflect = b != 0;
            final double[][] partial = new double[len][]; // partial p of the part starting at each row
            forEqualWork(len, t -> 4.0 * (t + 1), (t0, t1) -> { // row first+t: 4 multiply-adds per entry
                double[] acc = reflect ? new double[n] : null;
                for (int i = first + t0; i < first + t1; i++) {
                    int ri = i * n;
                    if (applyPrev) {
                        double vi = vPrev[i], wi = wPrev[i];
                        for (int j = first; j <= i; j++) a[ri + j] -= vi * wPrev[j] + wi * vPrev[j];
                    }
                    if (reflect) {
                        acc[i] += dot(a, ri + first, v, first, i - first + 1);
                        double vi = v[i];
                        for (int j = first; j < i; j++) acc[j] += vi * a[ri + j];
                    }
                }
                partial[t0] = acc;
            });
            pending = reflect;
            if (!reflect) continue;
            Arrays.fill(p, first, n, 0.0);
            for (double[] acc : partial)
                if (acc != null) for (int i = first; i < n; i++) p[i] += acc[i];
            double vp = 0;
            for (int i = first; i < n; i++) {
                p[i] *= b;
                vp += v[i] * p[i];
            }
            double half = 0.5 * b * vp;
            for (int i = first; i < n; i++) {
                vPrev[i] = v[i];
                wPrev[i] = p[i] - half * v[i];
            }
        }
        // The last 2 x 2 (or 1 x 1) block needs no reflector; it only takes the last pending update.
        int last = Math.max(0, n - 2);
        if (pending)
            for (int i = last; i < n; i++)
                for (int j = last; j <= i; j++) a[i * n + j] -= vPrev[i] * wPrev[j] + wPrev[i] * vPrev[j];
        for (int i = last; i < n; i++) d[i] = a[i * n + i];
        if (n >= 2) e[n - 2] = a[(n - 1) * n + n - 2];
    }

    /** Columns per tile when forming Qᵀ and when applying rotations: 32 columns of 4096 rows is 1 MiB. */
    private static final int EIG_TILE = 32;

    /**
     * Qᵀ for Q = H_0 H_1 ... H_{n-3}. Column j of Q is H_0 (H_1 (... e_j)) and only reflectors k < j touch it, so
     * Q is built in independent tiles of columns (in parallel), each held contiguously and hit by
     * H_{j-1}, ..., H_0 in turn: u = vᵀ X, X -= β v u.
     */
    private static double[] reflectorProductTransposed(double[] a, int n, double[] beta) {
        final double[] vt = new double[n * n];
        final int tiles = (n + EIG_TILE - 1) / EIG_TILE;
        forEqualWork(tiles, t -> 2.0 * Math.min(n, (t + 1) * EIG_TILE) * n * EIG_TILE, (t0, t1) -> {
            double[] buf = new double[n * EIG_TILE], u = new double[EIG_TILE];
            for (int t = t0; t < t1; t++) {
                int j0 = t * EIG_TILE, w = Math.min(EIG_TILE, n - j0);
                Arrays.fill(buf, 0.0);
                for (int c = 0; c < w; c++) buf[(j0 + c) * w + c] = 1;
                for (int k = Math.min(n - 3, j0 + w - 2); k >= 0; k--) {
                    double b = beta[k];
                    if (b == 0) continue;
                    int rk = k * n;
                    Arrays.fill(u, 0.0);
                    for (int i = k + 1; i < n; i++) {
                        double vi = a[rk + i];
                        int bi = i * w;
                        for (int c = 0; c < w; c++) u[c] += vi * buf[bi + c];
                    }
                    for (int c = 0; c < w; c++) u[c] *= b;
                    for (int i = k + 1; i < n; i++) {
                        double vi = a[rk + i];
                        int bi = i * w;
                        for (int c = 0; c < w; c++) buf[bi + c] -= vi * u[c];
                    }
                }
                for (int c = 0; c < w; c++) {
                    int row = (j0 + c) * n;
                    for (int i = 0; i < n; i++) vt[row + i] = buf[i * w + c];
                }
            }
        });
        return vt;
    }

    /**
     * Diagonalizes the symmetric tridiagonal (d, e) by implicit QR steps with Wilkinson shifts, applying every
     * rotation to the rows of vt. An off-diagonal element counts as zero once it is below ε times the norm of
     * T (an eigenvalue perturbation no larger than the rounding already incurred); blocks split there.
     */
    private static void tridiagonalQR(double[] d, double[] e, double[] vt, int n) {
        double norm = 0;
        for (int i = 0; i < n; i++)
            norm = Math.max(norm, Math.abs(d[i]) + Math.abs(e[i]) + (i > 0 ? Math.abs(e[i - 1]) : 0));
        double negligible = EPS * norm;
        var rotations = new Rotations(vt, n);
        int steps = 0, maxSteps = 30 * n + 30;
        int hi = n - 1;
        while (hi > 0) {
            if (Math.abs(e[hi - 1]) <= negligible) { // d[hi] has converged
                e[hi - 1] = 0;
                hi--;
                continue;
            }
            int lo = hi - 1; // the unreduced block ending at hi is lo..hi
            while (lo > 0 && Math.abs(e[lo - 1]) > negligible) lo--;
            if (lo > 0) e[lo - 1] = 0;
            if (++steps > maxSteps)
                throw new ArithmeticException("eigSymmetric: QR iteration did not converge for n = " + n);
            wilkinsonStep(d, e, lo, hi, rotations);
        }
        rotations.flush();
    }

    /**
     * One implicit symmetric QR step on the unreduced block lo..hi. The shift μ is the eigenvalue of the trailing
     * 2 x 2 block closer to d[hi]. The first rotation is the one that would start a QR step on T - μI (it zeroes
     * the second entry of (d[lo] - μ, e[lo])); applied to T it creates a bulge below the subdiagonal, and each
     * following rotation in plane (k, k+1) annihilates the bulge left by the previous one, pushing it down and out.
     * Each rotation R = [[c, s], [-s, c]] acts as T <- R T Rᵀ and Vᵀ <- R Vᵀ on rows (k, k+1).
     */
    private static void wilkinsonStep(double[] d, double[] e, int lo, int hi, Rotations rotations) {
        double delta = 0.5 * (d[hi - 1] - d[hi]), off = e[hi - 1];
        double mu = d[hi] - off * (off / (delta + Math.copySign(hypot(delta, off), delta)));
        double x = d[lo] - mu, z = e[lo];
        for (int k = lo; k < hi; k++) {
            double r = hypot(x, z), c = 1, s = 0;
            if (r != 0) {
                c = x / r;
                s = z / r;
            }
            if (k > lo) e[k - 1] = r; // the bulge in column k-1 is gone
            double dk = d[k], dk1 = d[k + 1], ek = e[k], cs = c * s;
            d[k] = c * c * dk + 2 * cs * ek + s * s * dk1;
            d[k + 1] = s * s * dk - 2 * cs * ek + c * c * dk1;
            e[k] = cs * (dk1 - dk) + (c * c - s * s) * ek;
            if (k + 1 < hi) { // the rotation spreads e[k+1] into a bulge at (k, k+2)
                z = s * e[k + 1];
                e[k + 1] = c * e[k + 1];
                x = e[k];
            }
            rotations.add(k, c, s);
        }
    }

    /**
     * A queue of plane rotations on rows (k, k+1) of the row-major n x n matrix vt, applied in order when full.
     * Applying each rotation at once would sweep the whole matrix per QR step; batching lets each narrow column
     * tile take many rotations while it sits in cache. Tiles are independent, so they run in parallel.
     */
    private static final class Rotations {
        private final double[] vt;
        private final int n;
        private final int[] row;
        private final double[] cos, sin;
        private int size, minRow = Integer.MAX_VALUE, maxRow = -1;

        Rotations(double[] vt, int n) {
            this.vt = vt;
            this.n = n;
            int capacity = Math.max(64, 32 * n);
            row = new int[capacity];
            cos = new double[capacity];
            sin = new double[capacity];
        }

        void add(int k, double c, double s) {
            if (size == row.length) flush();
            row[size] = k;
            cos[size] = c;
            sin[size] = s;
            size++;
            minRow = Math.min(minRow, k);
            maxRow = Math.max(maxRow, k + 1);
        }

        void flush() {
            if (size == 0) return;
            final int count = size, r0 = minRow, r1 = maxRow + 1, tiles = (n + EIG_TILE - 1) / EIG_TILE;
            Parallel.forRange(tiles, grain(6L * count * EIG_TILE), (t0, t1) -> {
                double[] buf = new double[(r1 - r0) * EIG_TILE];
                for (int t = t0; t < t1; t++) {
                    int j0 = t * EIG_TILE, w = Math.min(EIG_TILE, n - j0);
                    for (int i = r0; i < r1; i++) System.arraycopy(vt, i * n + j0, buf, (i - r0) * w, w);
                    for (int q = 0; q < count; q++) {
                        double c = cos[q], s = sin[q];
                        int top = (row[q] - r0) * w, bottom = top + w;
                        for (int j = 0; j < w; j++) {
                            double x = buf[top + j], y = buf[bottom + j];
                            buf[top + j] = c * x + s * y;
                            buf[bottom + j] = c * y - s * x;
                        }
                    }
                    for (int i = r0; i < r1; i++) System.arraycopy(buf, (i - r0) * w, vt, i * n + j0, w);
                }
            });
            size = 0;
            minRow = Integer.MAX_VALUE;
            maxRow = -1;
        }
    }

    // ----------------------------------------------------------------------------------------------------- SVD

    /** Thin SVD A = U diag(s) Vᵀ: k = min(rows, cols), U rows x k and V cols x k orthonormal, s descending ≥ 0. */
    public record SVD(DMatrix u, double[] s, DMatrix v) {}

    /**
     * Thin SVD by one-sided Jacobi (Hestenes): rotate pairs of columns of A until all are mutually orthogonal;
     * then the column norms are the singular values, the normalized columns are U and the accumulated rotations
     * are V. Accurate to working precision even for small singular values; costs O(sweeps · rows · cols²), meant
     * for matrices up to a few hundred columns. A wide matrix is handled through its transpose.
     */
    public static SVD svd(DMatrix a) {
        requireFinite("svd", a);
        if (a.rows < a.cols) {
            SVD t = svdTall(a.transpose());
            return new SVD(t.v(), t.s(), t.u());
        }
        return svdTall(a);
    }

    private static final int MAX_JACOBI_SWEEPS = 60;

    private static SVD svdTall(DMatrix a) {
        final int m = a.rows, n = a.cols;
        // Work on Aᵀ and Vᵀ so that the columns being rotated are contiguous rows.
        final double[] g = a.transpose().data, vt = DMatrix.identity(n).data;
        final double tol = m * EPS;
        boolean converged = n <= 1;
        for (int sweep = 0; sweep < MAX_JACOBI_SWEEPS && !converged; sweep++) {
            converged = true;
            for (int p = 0; p < n - 1; p++) {
                for (int q = p + 1; q < n; q++) {
                    int rp = p * m, rq = q * m;
                    double alpha = 0, beta = 0, gamma = 0;
                    for (int i = 0; i < m; i++) {
                        double x = g[rp + i], y = g[rq + i];
                        alpha += x * x;
                        beta += y * y;
                        gamma += x * y;
                    }
                    if (Math.abs(gamma) <= tol * Math.sqrt(alpha) * Math.sqrt(beta)) continue;
                    converged = false;
                    // The rotation that diagonalizes [[alpha, gamma], [gamma, beta]]: t = tan θ is the smaller root
                    // of t² + 2ζt - 1 = 0.
                    double zeta = (beta - alpha) / (2 * gamma);
                    double t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + hypot(1, zeta));
                    double c = 1 / Math.sqrt(1 + t * t), s = c * t;
                    rotateRows(g, rp, rq, m, c, s);
                    rotateRows(vt, p * n, q * n, n, c, s);
                }
            }
        }
        if (!converged) throw new ArithmeticException("svd: Jacobi sweeps did not converge for " + a.shape());

        double[] norms = new double[n];
        for (int j = 0; j < n; j++) norms[j] = norm2(g, j * m, m);
        Integer[] order = new Integer[n];
        for (int j = 0; j < n; j++) order[j] = j;
        Arrays.sort(order, (x, y) -> Double.compare(norms[y], norms[x]));
        double[] s = new double[n];
        DMatrix u = new DMatrix(m, n), v = new DMatrix(n, n);
        boolean[] filled = new boolean[n];
        for (int c = 0; c < n; c++) {
            int j = order[c];
            s[c] = norms[j];
            for (int i = 0; i < n; i++) v.data[i * n + c] = vt[j * n + i];
            // A (numerically) zero column has no direction of its own; U's column is completed below.
            if (s[c] > Double.MIN_NORMAL / EPS) {
                for (int i = 0; i < m; i++) u.data[i * n + c] = g[j * m + i] / s[c];
                filled[c] = true;
            }
        }
        completeOrthonormalColumns(u, filled);
        return new SVD(u, s, v);
    }

    /** Plane rotation of two rows: x <- c x - s y, y <- s x + c y. */
    private static void rotateRows(double[] a, int rx, int ry, int len, double c, double s) {
        for (int i = 0; i < len; i++) {
            double x = a[rx + i], y = a[ry + i];
            a[rx + i] = c * x - s * y;
            a[ry + i] = s * x + c * y;
        }
    }

    /**
     * Fills the columns of u not marked {@code filled} with unit vectors orthogonal to all others: the standard basis
     * vector with the largest component outside the span so far, orthogonalized twice (Gram-Schmidt).
     */
    private static void completeOrthonormalColumns(DMatrix u, boolean[] filled) {
        int m = u.rows, n = u.cols;
        double[] x = new double[m];
        for (int c = 0; c < n; c++) {
            if (filled[c]) continue;
            int best = 0;
            double bestResidual = -1;
            for (int i = 0; i < m; i++) {
                double inSpan = 0;
                for (int j = 0; j < n; j++) if (filled[j]) inSpan += u.data[i * n + j] * u.data[i * n + j];
                if (1 - inSpan > bestResidual) {
                    bestResidual = 1 - inSpan;
                    best = i;
                }
            }
            Arrays.fill(x, 0);
            x[best] = 1;
            for (int pass = 0; pass < 2; pass++) {
                for (int j = 0; j < n; j++) {
                    if (!filled[j]) continue;
                    double proj = 0;
                    for (int i = 0; i < m; i++) proj += u.data[i * n + j] * x[i];
                    for (int i = 0; i < m; i++) x[i] -= proj * u.data[i * n + j];
                }
            }
            double norm = norm2(x);
            for (int i = 0; i < m; i++) u.data[i * n + c] = x[i] / norm;
            filled[c] = true;
        }
    }

    /**
     * The orthogonal polar factor U Vᵀ of a square A (from A = U diag(s) Vᵀ): the orthogonal matrix nearest to A
     * in the Frobenius norm. Unique when A is nonsingular.
     */
    public static DMatrix polar(DMatrix a) {
        requireSquare("polar", a);
        SVD svd = svd(a);
        return svd.u().multiply(svd.v().transpose());
    }

    // ------------------------------------------------------------------------------------------------- helpers

    private static void requireSquare(String op, DMatrix a) {
        if (!a.isSquare()) throw new IllegalArgumentException(op + ": expected a square matrix, got " + a.shape());
    }

    /** A square n x n coefficient matrix and a right-hand side with n rows. */
    private static void requireSystem(String op, DMatrix a, DMatrix b) {
        if (!a.isSquare() || b.rows != a.rows)
            throw new IllegalArgumentException(op + ": expected a square A and B with as many rows, got A "
                    + a.shape() + " and B " + b.shape());
    }

    private static void requireFinite(String op, DMatrix a) {
        for (int i = 0; i < a.data.length; i++)
            if (!Double.isFinite(a.data[i]))
                throw new IllegalArgumentException(op + ": " + a.shape() + " matrix has a non-finite entry "
                        + a.data[i] + " at (" + i / a.cols + ", " + i % a.cols + ")");
    }

    /**
     * Compares a_ij with a_ji in 32 x 32 tile pairs, so that the column-wise reads stay in cache; rows of tiles in
     * parallel (a GPTQ Hessian of a 7B down_proj has 121 million entries).
     */
    private static void requireSymmetric(String op, DMatrix a) {
        final int n = a.rows;
        final double limit = SYMMETRY_TOLERANCE * a.maxAbs();
        UpperTiles.forEach(n, false, (i, from, to) -> {
            for (int j = from; j < to; j++) {
                double diff = Math.abs(a.data[i * n + j] - a.data[j * n + i]);
                if (diff > limit)
                    throw new IllegalArgumentException(op + ": " + a.shape() + " matrix is not symmetric: |a["
                            + i + "][" + j + "] - a[" + j + "][" + i + "]| = " + diff + " exceeds "
                            + SYMMETRY_TOLERANCE + " * max|a| (use DMatrix.symmetricPart())");
            }
        });
    }

    private static void requireNonZeroDiagonal(String op, DMatrix t) {
        requireFinite(op, t);
        for (int i = 0; i < t.rows; i++)
            if (t.data[i * t.cols + i] == 0)
                throw new IllegalArgumentException(op + ": " + t.shape() + " triangular matrix is singular"
                        + " (zero diagonal in column " + i + ")");
    }

    /** Items per task so that a task does at least {@link #MIN_PARALLEL_WORK} multiply-adds. */
    static int grain(long workPerItem) {
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE, MIN_PARALLEL_WORK / Math.max(1, workPerItem)));
    }

    /**
     * Runs {@code body} over [0, n) split into one contiguous part per thread, the parts chosen to hold about equal
     * total {@code cost} (for triangular loops, where a plain split by count would leave one thread with most of
     * the work). Small totals run on the calling thread.
     */
    static void forEqualWork(int n, IntToDoubleFunction cost, Parallel.RangeBody body) {
        if (n <= 0) return;
        double[] prefix = new double[n + 1];
        for (int i = 0; i < n; i++) prefix[i + 1] = prefix[i] + cost.applyAsDouble(i);
        double total = prefix[n];
        int parts = (int) Math.min(Math.min(Parallel.threads(), n), Math.max(1, total / MIN_PARALLEL_WORK));
        if (parts <= 1) {
            body.run(0, n);
            return;
        }
        int[] bounds = new int[parts + 1];
        for (int part = 1, i = 0; part < parts; part++) {
            double target = total * part / parts;
            while (i < n && prefix[i] < target) i++;
            bounds[part] = i;
        }
        bounds[parts] = n;
        Parallel.forRange(parts, parts, 1, (p0, p1) -> {
            for (int part = p0; part < p1; part++)
                if (bounds[part] < bounds[part + 1]) body.run(bounds[part], bounds[part + 1]);
        });
    }

    /** sqrt(a² + b²) without overflow or underflow of the squares (and faster than Math.hypot). */
    static double hypot(double a, double b) {
        a = Math.abs(a);
        b = Math.abs(b);
        double big = Math.max(a, b), small = Math.min(a, b);
        if (big == 0) return 0;
        double r = small / big;
        return big * Math.sqrt(1 + r * r);
    }

    /** Euclidean norm of x[from .. from+len), scaled by the largest entry so that the squares cannot overflow. */
    static double norm2(double[] x, int from, int len) {
        double scale = 0;
        for (int i = from; i < from + len; i++) scale = Math.max(scale, Math.abs(x[i]));
        if (scale == 0) return 0;
        double sum = 0;
        for (int i = from; i < from + len; i++) {
            double y = x[i] / scale;
            sum += y * y;
        }
        return scale * Math.sqrt(sum);
    }

    static double norm2(double[] x) {
        return norm2(x, 0, x.length);
    }

    /** Dot product with four partial sums, which breaks the add-latency chain of a single accumulator. */
    static double dot(double[] x, int xo, double[] y, int yo, int len) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 3 < len; i += 4) {
            s0 += x[xo + i] * y[yo + i];
            s1 += x[xo + i + 1] * y[yo + i + 1];
            s2 += x[xo + i + 2] * y[yo + i + 2];
            s3 += x[xo + i + 3] * y[yo + i + 3];
        }
        for (; i < len; i++) s0 += x[xo + i] * y[yo + i];
        return (s0 + s1) + (s2 + s3);
    }
}
