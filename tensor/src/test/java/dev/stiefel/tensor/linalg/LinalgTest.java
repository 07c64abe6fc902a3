package dev.stiefel.tensor.linalg;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/**
 * Reconstruction and property tests on fresh seeded random inputs. Unless a test says otherwise the tolerance is
 * relative: 1e-10 times the natural scale of the quantity (max |a_ij| of the input, or of the factors for
 * products). Correct results come out around 1e-15 to 1e-13 of that scale, while any real defect gives errors of
 * order one, so the margin only absorbs rounding.
 */
class LinalgTest {
    private static final double REL = 1e-10;

    /** A well-conditioned SPD matrix: G Gᵀ + n I with Gaussian G. */
    private static DMatrix spd(int n, Random rnd) {
        var g = DMatrix.random(n, n, rnd);
        return g.multiply(g.transpose()).add(DMatrix.identity(n).scale(n));
    }

    /** Q diag(lambda) Qᵀ with a Haar-random Q, made exactly symmetric. */
    private static DMatrix withSpectrum(DMatrix q, double... lambda) {
        return q.multiply(DMatrix.diagonal(lambda)).multiply(q.transpose()).symmetricPart();
    }

    private static DMatrix columns(DMatrix a, int from, int to) {
        var c = new DMatrix(a.rows, to - from);
        for (int i = 0; i < a.rows; i++)
            for (int j = from; j < to; j++) c.set(i, j - from, a.get(i, j));
        return c;
    }

    private static void assertLowerTriangular(DMatrix l) {
        for (int i = 0; i < l.rows; i++)
            for (int j = i + 1; j < l.cols; j++) assertThat(l.get(i, j)).as("L[%d][%d]", i, j).isZero();
    }

    private static void assertUpperTriangular(DMatrix u) {
        for (int i = 0; i < u.rows; i++)
            for (int j = 0; j < Math.min(i, u.cols); j++) assertThat(u.get(i, j)).as("U[%d][%d]", i, j).isZero();
    }

    // ------------------------------------------------------------------------------------------------ Cholesky

    @ParameterizedTest
    @ValueSource(ints = {1, 7, 33, 257})
    void choleskyReconstructs(int n) {
        var a = spd(n, new Random(100 + n));
        double tol = REL * a.maxAbs();
        var l = Linalg.cholesky(a);
        assertLowerTriangular(l);
        for (int i = 0; i < n; i++) assertThat(l.get(i, i)).isPositive();
        assertThat(l.multiply(l.transpose()).maxAbsDiff(a)).isLessThanOrEqualTo(tol);

        var u = Linalg.choleskyUpper(a);
        assertUpperTriangular(u);
        assertThat(u.transpose().multiply(u).maxAbsDiff(a)).isLessThanOrEqualTo(tol);
        assertThat(u.maxAbsDiff(l.transpose())).isLessThanOrEqualTo(tol);
    }

    @Test
    void choleskyOfKnownMatrix() {
        // [[4, 2], [2, 5]] = L Lᵀ with L = [[2, 0], [1, 2]], exactly representable.
        assertThat(Linalg.cholesky(DMatrix.of(2, 2, 4, 2, 2, 5)).data).containsExactly(2, 0, 1, 2);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 7, 33, 257})
    void choleskyInverseTimesMatrixIsIdentity(int n) {
        var a = spd(n, new Random(200 + n));
        var inv = Linalg.choleskyInverse(a);
        // A = G Gᵀ + nI has eigenvalues in [n, ~5n], so A⁻¹ has entries of order 1/n and A⁻¹A = I to ~1e-15.
        assertThat(inv.multiply(a).maxAbsDiff(DMatrix.identity(n))).isLessThanOrEqualTo(REL);
        assertThat(inv.maxAbsDiff(inv.transpose())).isZero();
        assertThat(inv.maxAbsDiff(Linalg.inverse(a))).isLessThanOrEqualTo(REL * inv.maxAbs());
    }

    @Test
    void choleskyRejectsIndefiniteMatrixNamingThePivot() {
        // Leading 2 x 2 minor 4*1 - 2*2 = 0: the second pivot (index 1) is zero.
        var singular = DMatrix.of(3, 3, 4, 2, 0, 2, 1, 0, 0, 0, 1);
        assertThatThrownBy(() -> Linalg.cholesky(singular)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cholesky").hasMessageContaining("not positive definite")
                .hasMessageContaining("pivot 1 is 0.0");
        // A random indefinite matrix fails at some pivot, for every entry point.
        var q = Linalg.randomOrthogonal(7, new Random(1));
        var indefinite = withSpectrum(q, 5, 4, 3, 2, 1, 0.5, -0.5);
        for (var call : new Runnable[]{() -> Linalg.cholesky(indefinite), () -> Linalg.choleskyUpper(indefinite),
                () -> Linalg.choleskyInverse(indefinite)})
            assertThatThrownBy(call::run).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("not positive definite").hasMessageContaining("pivot");
    }

    @Test
    void choleskyRejectsNonSquareAsymmetricAndNonFiniteInput() {
        assertThatThrownBy(() -> Linalg.cholesky(new DMatrix(3, 5))).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("cholesky: expected a square matrix, got 3x5");
        var asymmetric = spd(7, new Random(3));
        asymmetric.set(2, 5, asymmetric.get(2, 5) + 1e-3);
        assertThatThrownBy(() -> Linalg.cholesky(asymmetric)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("not symmetric").hasMessageContaining("a[2][5]");
        var nan = spd(7, new Random(4));
        nan.set(3, 3, Double.NaN);
        assertThatThrownBy(() -> Linalg.choleskyInverse(nan)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("non-finite").hasMessageContaining("(3, 3)");
    }

    // ------------------------------------------------------------------------------------ triangular solves

    @ParameterizedTest
    @CsvSource({"1,1", "7,3", "33,1", "33,70", "257,65"})
    void triangularSolvesReconstructRightHandSide(int n, int m) {
        var rnd = new Random(300 + n + m);
        var l = Linalg.cholesky(spd(n, rnd));
        var b = DMatrix.random(n, m, rnd);
        var x = Linalg.solveLowerTriangular(l, b);
        assertThat(l.multiply(x).maxAbsDiff(b)).isLessThanOrEqualTo(REL * b.maxAbs());
        var u = l.transpose();
        var y = Linalg.solveUpperTriangular(u, b);
        assertThat(u.multiply(y).maxAbsDiff(b)).isLessThanOrEqualTo(REL * b.maxAbs());
    }

    @Test
    void triangularSolvesReadOnlyTheirTriangle() {
        var rnd = new Random(7);
        var l = Linalg.cholesky(spd(33, rnd));
        var b = DMatrix.random(33, 4, rnd);
        var junk = DMatrix.random(33, 33, rnd);
        var lowerPlusJunk = l.copy();
        var upperPlusJunk = l.transpose();
        for (int i = 0; i < 33; i++)
            for (int j = i + 1; j < 33; j++) {
                lowerPlusJunk.set(i, j, junk.get(i, j));
                upperPlusJunk.set(j, i, junk.get(j, i));
            }
        assertThat(Linalg.solveLowerTriangular(lowerPlusJunk, b).data)
                .containsExactly(Linalg.solveLowerTriangular(l, b).data);
        assertThat(Linalg.solveUpperTriangular(upperPlusJunk, b).data)
                .containsExactly(Linalg.solveUpperTriangular(l.transpose(), b).data);
    }

    @Test
    void triangularSolvesRejectBadInput() {
        assertThatThrownBy(() -> Linalg.solveLowerTriangular(new DMatrix(3, 3), new DMatrix(4, 2)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("solveLowerTriangular")
                .hasMessageContaining("3x3").hasMessageContaining("4x2");
        assertThatThrownBy(() -> Linalg.solveUpperTriangular(new DMatrix(3, 4), new DMatrix(3, 1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("3x4").hasMessageContaining("3x1");
        var zeroDiagonal = DMatrix.of(2, 2, 1, 0, 5, 0);
        assertThatThrownBy(() -> Linalg.solveLowerTriangular(zeroDiagonal, new DMatrix(2, 1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("singular")
                .hasMessageContaining("column 1");
    }

    // ------------------------------------------------------------------------------------------------------ LU

    /** A nonsymmetric matrix with moderate condition: Gaussian plus 2√n I (eigenvalues have real part ≥ √n). */
    private static DMatrix general(int n, Random rnd) {
        return DMatrix.random(n, n, rnd).add(DMatrix.identity(n).scale(2 * Math.sqrt(n)));
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 7, 33, 257})
    void luReconstructsPermutedMatrix(int n) {
        var a = DMatrix.random(n, n, new Random(400 + n));
        var f = Linalg.lu(a);
        var l = new DMatrix(n, n);
        var u = new DMatrix(n, n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                if (j < i) l.set(i, j, f.lu().get(i, j));
                else u.set(i, j, f.lu().get(i, j));
            }
        for (int i = 0; i < n; i++) {
            l.set(i, i, 1);
            for (int j = 0; j < i; j++) assertThat(Math.abs(l.get(i, j))).isLessThanOrEqualTo(1.0); // partial pivoting
        }
        var pa = new DMatrix(n, n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) pa.set(i, j, a.get(f.pivots()[i], j));
        assertThat(l.multiply(u).maxAbsDiff(pa)).isLessThanOrEqualTo(REL * a.maxAbs());
        assertThat(f.pivots()).containsExactlyInAnyOrder(java.util.stream.IntStream.range(0, n).toArray());
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 7, 33, 257})
    void solveAndInverseReconstruct(int n) {
        var rnd = new Random(500 + n);
        var a = general(n, rnd);
        var b = DMatrix.random(n, 3, rnd);
        var x = Linalg.solve(a, b);
        assertThat(a.multiply(x).maxAbsDiff(b)).isLessThanOrEqualTo(REL * a.maxAbs() * x.maxAbs());
        var inv = Linalg.inverse(a);
        assertThat(a.multiply(inv).maxAbsDiff(DMatrix.identity(n))).isLessThanOrEqualTo(REL * a.maxAbs() * inv.maxAbs());
        assertThat(inv.multiply(a).maxAbsDiff(DMatrix.identity(n))).isLessThanOrEqualTo(REL * a.maxAbs() * inv.maxAbs());
    }

    @Test
    void solveNeedsPivoting() {
        // Without row exchanges the first pivot would be 0 (or 1e-20, destroying the second row).
        var a = DMatrix.of(2, 2, 0, 1, 1, 1);
        assertThat(Linalg.solve(a, DMatrix.of(2, 1, 2, 3)).data).containsExactly(1, 2);
        var tiny = DMatrix.of(2, 2, 1e-20, 1, 1, 1);
        var x = Linalg.solve(tiny, DMatrix.of(2, 1, 1, 2));
        assertThat(x.get(0, 0)).isCloseTo(1, within(1e-15));
        assertThat(x.get(1, 0)).isCloseTo(1, within(1e-15));
    }

    @Test
    void determinantOfKnownMatrices() {
        assertThat(Linalg.determinant(DMatrix.of(3, 3, 2, -1, 0, -1, 2, -1, 0, -1, 2))).isCloseTo(4, within(1e-14));
        // One row exchange: det [[0, 2], [3, 1]] = -6.
        assertThat(Linalg.determinant(DMatrix.of(2, 2, 0, 2, 3, 1))).isCloseTo(-6, within(1e-14));
        // A = L U with unit-lower L and upper U: det A = Π u_ii = 2 * -3 * 0.5 * 4 = -12.
        var l = DMatrix.of(4, 4, 1, 0, 0, 0, 0.5, 1, 0, 0, -2, 3, 1, 0, 1, -1, 0.25, 1);
        var u = DMatrix.of(4, 4, 2, 1, -1, 3, 0, -3, 2, 1, 0, 0, 0.5, -2, 0, 0, 0, 4);
        assertThat(Linalg.determinant(l.multiply(u))).isCloseTo(-12, within(1e-12));
        // Q diag(λ) Qᵀ has determinant Π λ.
        var q = Linalg.randomOrthogonal(7, new Random(8));
        assertThat(Linalg.determinant(withSpectrum(q, 2, -1, 0.5, 3, 1.5, -2, 0.25))).isCloseTo(2.25, within(1e-12));
        // Exactly singular: 0 rather than an exception.
        assertThat(Linalg.determinant(DMatrix.of(2, 2, 1, 2, 2, 4))).isZero();
        // The factorization agrees.
        var a = general(7, new Random(9));
        assertThat(Linalg.lu(a).determinant()).isEqualTo(Linalg.determinant(a));
    }

    @Test
    void singularMatricesAreRejectedNamingTheColumn() {
        var singular = DMatrix.of(2, 2, 1, 2, 2, 4);
        assertThatThrownBy(() -> Linalg.solve(singular, DMatrix.of(2, 1, 1, 1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("solve")
                .hasMessageContaining("singular").hasMessageContaining("column 1");
        // Rank-deficient random matrix: the last row is the sum of the first two.
        var a = DMatrix.random(7, 7, new Random(10));
        for (int j = 0; j < 7; j++) a.set(6, j, a.get(0, j) + a.get(1, j));
        assertThatThrownBy(() -> Linalg.inverse(a)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("inverse").hasMessageContaining("singular").hasMessageContaining("column");
        assertThatThrownBy(() -> Linalg.lu(new DMatrix(3, 3))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("singular").hasMessageContaining("column 0");
    }

    @Test
    void luSolversRejectBadShapes() {
        assertThatThrownBy(() -> Linalg.solve(general(3, new Random(1)), new DMatrix(4, 2)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("solve")
                .hasMessageContaining("3x3").hasMessageContaining("4x2");
        assertThatThrownBy(() -> Linalg.lu(general(3, new Random(1))).solve(new DMatrix(2, 2)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("3x3").hasMessageContaining("2x2");
        assertThatThrownBy(() -> Linalg.inverse(new DMatrix(3, 5))).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("inverse: expected a square matrix, got 3x5");
        assertThatThrownBy(() -> Linalg.determinant(new DMatrix(2, 1))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("determinant").hasMessageContaining("2x1");
    }

    // ------------------------------------------------------------------------------------------------------ QR

    @ParameterizedTest
    @CsvSource({"1,1", "7,1", "7,7", "33,7", "33,33", "257,257"})
    void qrReconstructsWithOrthonormalQAndNonNegativeDiagonal(int m, int n) {
        var a = DMatrix.random(m, n, new Random(600 + m + n));
        var qr = Linalg.qr(a);
        assertThat(qr.q().rows).isEqualTo(m);
        assertThat(qr.q().cols).isEqualTo(n);
        assertThat(qr.r().rows).isEqualTo(n);
        assertThat(qr.r().cols).isEqualTo(n);
        assertUpperTriangular(qr.r());
        for (int k = 0; k < n; k++) assertThat(qr.r().get(k, k)).isPositive();
        assertThat(Linalg.orthogonalityError(qr.q())).isLessThanOrEqualTo(REL);
        assertThat(qr.q().multiply(qr.r()).maxAbsDiff(a)).isLessThanOrEqualTo(REL * a.maxAbs());
        // With diag(R) > 0 the factorization is unique: R is the Cholesky factor of AᵀA. (Relative 1e-8: AᵀA
        // squares the condition number.)
        var ata = a.transpose().multiply(a);
        assertThat(qr.r().maxAbsDiff(Linalg.choleskyUpper(ata))).isLessThanOrEqualTo(1e-8 * qr.r().maxAbs());
    }

    @Test
    void qrHandlesAZeroColumn() {
        var a = DMatrix.random(7, 4, new Random(11));
        for (int i = 0; i < 7; i++) a.set(i, 2, 0);
        var qr = Linalg.qr(a);
        assertThat(qr.r().get(2, 2)).isZero();
        for (int k = 0; k < 4; k++) assertThat(qr.r().get(k, k)).isGreaterThanOrEqualTo(0);
        assertThat(Linalg.orthogonalityError(qr.q())).isLessThanOrEqualTo(REL);
        assertThat(qr.q().multiply(qr.r()).maxAbsDiff(a)).isLessThanOrEqualTo(REL * a.maxAbs());
    }

    /** A column that is e_1 up to a tiny (but not negligible) tail still needs its reflector. */
    @Test
    void qrKeepsTinySubdiagonalEntries() {
        var a = DMatrix.of(3, 2, 1, 2, 1e-9, 1, 0, 3);
        var qr = Linalg.qr(a);
        assertThat(qr.q().multiply(qr.r()).maxAbsDiff(a)).isLessThanOrEqualTo(1e-15);
        assertThat(Linalg.orthogonalityError(qr.q())).isLessThanOrEqualTo(1e-15);
        // And an upper-triangular input needs no reflection at all: Q = I and R = A exactly.
        var upper = DMatrix.of(2, 2, 2, -1, 0, 3);
        assertThat(Linalg.qr(upper).r().data).containsExactly(upper.data);
        assertThat(Linalg.qr(upper).q().data).containsExactly(DMatrix.identity(2).data);
    }

    @Test
    void qrRejectsWideMatrices() {
        assertThatThrownBy(() -> Linalg.qr(new DMatrix(7, 33))).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("qr: expected rows >= cols, got 7x33");
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 7, 33, 257})
    void randomOrthogonalIsOrthogonalAndSeeded(int n) {
        var q = Linalg.randomOrthogonal(n, new Random(n));
        assertThat(Linalg.orthogonalityError(q)).isLessThanOrEqualTo(REL);
        assertThat(q.multiply(q.transpose()).maxAbsDiff(DMatrix.identity(n))).isLessThanOrEqualTo(REL);
        assertThat(Linalg.randomOrthogonal(n, new Random(n)).data).containsExactly(q.data);
        if (n > 1) assertThat(Linalg.randomOrthogonal(n, new Random(n + 1000)).maxAbsDiff(q)).isGreaterThan(0.01);
    }

    /**
     * Haar measure is invariant under sign flips, so every entry has mean 0 and (for n = 3) second moment 1/3.
     * Without the sign correction Householder QR returns q_00 = -|x_0| / ||x|| ≤ 0 every time (mean -1/2).
     */
    @Test
    void randomOrthogonalHasHaarMoments() {
        var rnd = new Random(12);
        int draws = 4000;
        double[] sum = new double[9], sumSq = new double[9];
        for (int t = 0; t < draws; t++) {
            var q = Linalg.randomOrthogonal(3, rnd);
            for (int i = 0; i < 9; i++) {
                sum[i] += q.data[i];
                sumSq[i] += q.data[i] * q.data[i];
            }
        }
        // Standard error of a mean is sqrt(1/3 / 4000) ≈ 0.009; 0.05 is over five of them.
        for (int i = 0; i < 9; i++) {
            assertThat(sum[i] / draws).as("mean of q[%d]", i).isCloseTo(0, within(0.05));
            assertThat(sumSq[i] / draws).as("second moment of q[%d]", i).isCloseTo(1.0 / 3, within(0.03));
        }
        // A draw of n = 1 is ±1, both signs occurring.
        double min = 1, max = -1;
        for (int t = 0; t < 50; t++) {
            double v = Linalg.randomOrthogonal(1, rnd).get(0, 0);
            assertThat(Math.abs(v)).isEqualTo(1.0);
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        assertThat(min).isEqualTo(-1.0);
        assertThat(max).isEqualTo(1.0);
    }

    @Test
    void orthogonalityErrorOfKnownMatrices() {
        // QᵀQ = [[1, 1], [1, 2]]: largest deviation from I is 1.
        assertThat(Linalg.orthogonalityError(DMatrix.of(2, 2, 1, 1, 0, 1))).isEqualTo(1.0);
        assertThat(Linalg.orthogonalityError(DMatrix.diagonal(1, 2))).isEqualTo(3.0);
        // A thin matrix with orthonormal columns.
        double c = Math.sqrt(0.5);
        assertThat(Linalg.orthogonalityError(DMatrix.of(3, 2, c, 0, c, 0, 0, 1))).isLessThan(1e-15);
    }

    // -------------------------------------------------------------------------------- symmetric eigenproblem

    private static void assertEigenDecomposition(DMatrix a, Linalg.Eigen eig, double tol) {
        int n = a.rows;
        var v = eig.vectors();
        assertThat(eig.values()).hasSize(n);
        assertThat(v.rows).isEqualTo(n);
        assertThat(v.cols).isEqualTo(n);
        for (int i = 1; i < n; i++) assertThat(eig.values()[i]).isLessThanOrEqualTo(eig.values()[i - 1]);
        assertThat(Linalg.orthogonalityError(v)).isLessThanOrEqualTo(REL);
        assertThat(a.multiply(v).maxAbsDiff(v.multiply(DMatrix.diagonal(eig.values())))).isLessThanOrEqualTo(tol);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 7, 33, 257})
    void eigenvaluesOfAKnownSpectrum(int n) {
        var rnd = new Random(700 + n);
        var q = Linalg.randomOrthogonal(n, rnd);
        double[] lambda = new double[n];
        for (int i = 0; i < n; i++) lambda[i] = 10 * rnd.nextDouble() - 5; // distinct, both signs, random order
        var a = withSpectrum(q, lambda);
        var eig = Linalg.eigSymmetric(a);
        double tol = REL * a.maxAbs();
        assertEigenDecomposition(a, eig, tol);
        double[] sorted = lambda.clone();
        Arrays.sort(sorted);
        for (int i = 0; i < n; i++) assertThat(eig.values()[i]).isCloseTo(sorted[n - 1 - i], within(tol));
        // For well separated eigenvalues the eigenvector is unique up to sign: it must be ±(the column of Q).
        for (int c = 0; c < n; c++) {
            double lam = eig.values()[c], gap = Double.MAX_VALUE;
            for (double other : lambda) if (Math.abs(other - lam) > tol) gap = Math.min(gap, Math.abs(other - lam));
            if (gap < 1e-3) continue;
            int src = 0;
            for (int i = 0; i < n; i++) if (Math.abs(lambda[i] - lam) < Math.abs(lambda[src] - lam)) src = i;
            double overlap = 0;
            for (int i = 0; i < n; i++) overlap += eig.vectors().get(i, c) * q.get(i, src);
            assertThat(Math.abs(overlap)).as("|<v_%d, q_%d>|", c, src).isCloseTo(1, within(1e-8));
        }
    }

    @Test
    void repeatedEigenvalues() {
        var q = Linalg.randomOrthogonal(5, new Random(13));
        var a = withSpectrum(q, 3, 1, 3, 1, 1);
        var eig = Linalg.eigSymmetric(a);
        assertEigenDecomposition(a, eig, REL * 3);
        assertThat(eig.values()).containsExactly(new double[]{3, 3, 1, 1, 1}, within(1e-12));
        // The eigenvectors of 3 span the same plane as columns 0 and 2 of Q: equal projectors.
        var v3 = columns(eig.vectors(), 0, 2);
        var q3 = new DMatrix(5, 2);
        for (int i = 0; i < 5; i++) {
            q3.set(i, 0, q.get(i, 0));
            q3.set(i, 1, q.get(i, 2));
        }
        assertThat(v3.multiply(v3.transpose()).maxAbsDiff(q3.multiply(q3.transpose()))).isLessThanOrEqualTo(1e-10);
    }

    @Test
    void highlyDegenerateSpectrum() {
        int n = 33;
        double[] lambda = new double[n];
        for (int i = 0; i < n; i++) lambda[i] = i < 10 ? 2 : i < 30 ? -1 : i - 25; // 2 (x10), -1 (x20), 5, 6, 7
        var a = withSpectrum(Linalg.randomOrthogonal(n, new Random(14)), lambda);
        var eig = Linalg.eigSymmetric(a);
        assertEigenDecomposition(a, eig, REL * a.maxAbs());
        double[] expected = lambda.clone();
        Arrays.sort(expected);
        for (int i = 0; i < n; i++) assertThat(eig.values()[i]).isCloseTo(expected[n - 1 - i], within(1e-12));
    }

    @Test
    void rankOneMatrixHasOneNonZeroEigenvalue() {
        var x = DMatrix.random(33, 1, new Random(15));
        var a = x.multiply(x.transpose());
        var eig = Linalg.eigSymmetric(a);
        assertEigenDecomposition(a, eig, REL * a.maxAbs());
        double norm2 = x.transpose().multiply(x).get(0, 0);
        assertThat(eig.values()[0]).isCloseTo(norm2, within(REL * norm2));
        for (int i = 1; i < 33; i++) assertThat(eig.values()[i]).isCloseTo(0, within(REL * norm2));
    }

    /** Already tridiagonal (no reflection needed) with a known spectrum: the 1-D Laplacian, 2 - 2cos(kπ/(n+1)). */
    @Test
    void tridiagonalLaplacian() {
        int n = 33;
        var a = new DMatrix(n, n);
        for (int i = 0; i < n; i++) {
            a.set(i, i, 2);
            if (i + 1 < n) {
                a.set(i, i + 1, -1);
                a.set(i + 1, i, -1);
            }
        }
        var eig = Linalg.eigSymmetric(a);
        assertEigenDecomposition(a, eig, 1e-12);
        for (int c = 0; c < n; c++) {
            int k = n - c; // descending
            assertThat(eig.values()[c]).isCloseTo(2 - 2 * Math.cos(k * Math.PI / (n + 1)), within(1e-12));
        }
    }

    /** Row 0 is e_1 up to a tiny entry a[0][2]; dropping it would leave a residual of 1e-9. */
    @Test
    void tinyEntriesOutsideTheTridiagonalBandAreNotDropped() {
        var a = DMatrix.of(3, 3, 1, 1, 1e-9, 1, 2, 0, 1e-9, 0, 3);
        assertEigenDecomposition(a, Linalg.eigSymmetric(a), 1e-14);
    }

    @Test
    void smallKnownCases() {
        var e1 = Linalg.eigSymmetric(DMatrix.of(1, 1, -2.5));
        assertThat(e1.values()).containsExactly(-2.5);
        assertThat(Math.abs(e1.vectors().get(0, 0))).isEqualTo(1.0);
        var e2 = Linalg.eigSymmetric(DMatrix.of(2, 2, 0, 1, 1, 0));
        assertThat(e2.values()).containsExactly(new double[]{1, -1}, within(1e-15));
        assertThat(Math.abs(e2.vectors().get(0, 0))).isCloseTo(Math.sqrt(0.5), within(1e-15));
        assertThat(e2.vectors().get(0, 0) * e2.vectors().get(1, 0)).isPositive(); // (1, 1) / √2 up to sign
        // A diagonal matrix: values sorted descending, vectors are the matching unit vectors.
        var e4 = Linalg.eigSymmetric(DMatrix.diagonal(1, 5, -2, 3));
        assertThat(e4.values()).containsExactly(5, 3, 1, -2);
        int[] source = {1, 3, 0, 2};
        for (int c = 0; c < 4; c++) assertThat(Math.abs(e4.vectors().get(source[c], c))).isEqualTo(1.0);
    }

    /** 400 is past the size where tridiagonalization splits rows across threads; results must not depend on timing. */
    @Test
    void covarianceEigendecompositionIsAccurateAndDeterministic() {
        var x = DMatrix.random(500, 400, new Random(16));
        var cov = x.transpose().multiply(x).scale(1.0 / 500);
        var eig = Linalg.eigSymmetric(cov);
        assertEigenDecomposition(cov, eig, REL * cov.maxAbs());
        for (double v : eig.values()) assertThat(v).isPositive();
        double trace = 0, sum = 0;
        for (int i = 0; i < 400; i++) {
            trace += cov.get(i, i);
            sum += eig.values()[i];
        }
        assertThat(sum).isCloseTo(trace, within(REL * trace));
        var again = Linalg.eigSymmetric(cov);
        assertThat(again.values()).containsExactly(eig.values());
        assertThat(again.vectors().data).containsExactly(eig.vectors().data);
    }

    @Test
    void eigSymmetricRejectsBadInput() {
        assertThatThrownBy(() -> Linalg.eigSymmetric(new DMatrix(3, 5))).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("eigSymmetric: expected a square matrix, got 3x5");
        var asymmetric = DMatrix.random(7, 7, new Random(17));
        assertThatThrownBy(() -> Linalg.eigSymmetric(asymmetric)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("eigSymmetric").hasMessageContaining("7x7").hasMessageContaining("not symmetric");
        // Asymmetry at rounding level is accepted.
        var nearly = spd(7, new Random(18));
        nearly.set(1, 4, nearly.get(1, 4) * (1 + 1e-15));
        assertThat(Linalg.eigSymmetric(nearly).values()).hasSize(7);
    }

    // ----------------------------------------------------------------------------------------------------- SVD

    private static void assertSvd(DMatrix a, Linalg.SVD svd) {
        int k = Math.min(a.rows, a.cols);
        assertThat(svd.u().rows).isEqualTo(a.rows);
        assertThat(svd.u().cols).isEqualTo(k);
        assertThat(svd.v().rows).isEqualTo(a.cols);
        assertThat(svd.v().cols).isEqualTo(k);
        assertThat(svd.s()).hasSize(k);
        for (int i = 0; i < k; i++) {
            assertThat(svd.s()[i]).isGreaterThanOrEqualTo(0);
            if (i > 0) assertThat(svd.s()[i]).isLessThanOrEqualTo(svd.s()[i - 1]);
        }
        assertThat(Linalg.orthogonalityError(svd.u())).isLessThanOrEqualTo(REL);
        assertThat(Linalg.orthogonalityError(svd.v())).isLessThanOrEqualTo(REL);
        var usv = svd.u().multiply(DMatrix.diagonal(svd.s())).multiply(svd.v().transpose());
        assertThat(usv.maxAbsDiff(a)).isLessThanOrEqualTo(REL * a.maxAbs());
    }

    @ParameterizedTest
    @CsvSource({"1,1", "7,7", "33,7", "7,33", "1,7", "33,33", "257,257"})
    void svdReconstructs(int m, int n) {
        var a = DMatrix.random(m, n, new Random(800 + 3 * m + n));
        var svd = Linalg.svd(a);
        assertSvd(a, svd);
        // s² are the eigenvalues of AᵀA (or AAᵀ), computed independently.
        var gram = m >= n ? a.transpose().multiply(a) : a.multiply(a.transpose());
        double[] lambda = Linalg.eigSymmetric(gram).values();
        for (int i = 0; i < svd.s().length; i++)
            assertThat(svd.s()[i] * svd.s()[i]).isCloseTo(lambda[i], within(REL * lambda[0]));
    }

    @Test
    void svdOfAKnownSpectrum() {
        var rnd = new Random(19);
        var left = Linalg.randomOrthogonal(33, rnd);
        var right = Linalg.randomOrthogonal(7, rnd);
        double[] sigma = {0.5, 7, 1e-6, 3, 2, 0.25, 1};
        var a = columns(left, 0, 7).multiply(DMatrix.diagonal(sigma)).multiply(right.transpose());
        var svd = Linalg.svd(a);
        assertSvd(a, svd);
        assertThat(svd.s()).containsExactly(new double[]{7, 3, 2, 1, 0.5, 0.25, 1e-6}, within(1e-13));
    }

    @Test
    void svdOfRankDeficientMatrixCompletesU() {
        var rnd = new Random(20);
        var x = DMatrix.random(7, 1, rnd);
        var y = DMatrix.random(5, 1, rnd);
        var a = x.multiply(y.transpose()); // rank one
        var svd = Linalg.svd(a);
        assertSvd(a, svd);
        double expected = Math.sqrt(x.transpose().multiply(x).get(0, 0) * y.transpose().multiply(y).get(0, 0));
        assertThat(svd.s()[0]).isCloseTo(expected, within(1e-12 * expected));
        for (int i = 1; i < 5; i++) assertThat(svd.s()[i]).isLessThanOrEqualTo(1e-12 * expected);
        // Exact zeros (a zero matrix block) also get orthonormal U columns.
        var z = new DMatrix(6, 3);
        z.set(4, 1, 2.0);
        var zs = Linalg.svd(z);
        assertSvd(z, zs);
        assertThat(zs.s()).containsExactly(2, 0, 0);
    }

    @Test
    void svdRejectsNonFiniteInput() {
        var a = DMatrix.random(3, 2, new Random(21));
        a.set(2, 1, Double.POSITIVE_INFINITY);
        assertThatThrownBy(() -> Linalg.svd(a)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("svd").hasMessageContaining("3x2").hasMessageContaining("(2, 1)");
    }

    // --------------------------------------------------------------------------------------------------- polar

    @ParameterizedTest
    @ValueSource(ints = {1, 7, 33})
    void polarFactorOfOrthogonalTimesSpd(int n) {
        // A = Q S with S symmetric positive definite has polar factor exactly Q.
        var rnd = new Random(900 + n);
        var q = Linalg.randomOrthogonal(n, rnd);
        var a = q.multiply(spd(n, rnd));
        var p = Linalg.polar(a);
        assertThat(Linalg.orthogonalityError(p)).isLessThanOrEqualTo(REL);
        assertThat(p.maxAbsDiff(q)).isLessThanOrEqualTo(REL);
        var svd = Linalg.svd(a);
        assertThat(p.maxAbsDiff(svd.u().multiply(svd.v().transpose()))).isLessThanOrEqualTo(REL);
    }

    @Test
    void polarOfGeneralMatrixGivesSymmetricPositiveFactor() {
        var a = DMatrix.random(7, 7, new Random(22));
        var p = Linalg.polar(a);
        assertThat(Linalg.orthogonalityError(p)).isLessThanOrEqualTo(REL);
        // H = Pᵀ A must be symmetric positive semidefinite, with the singular values of A as eigenvalues.
        var h = p.transpose().multiply(a);
        assertThat(h.maxAbsDiff(h.transpose())).isLessThanOrEqualTo(REL * a.maxAbs());
        double[] eig = Linalg.eigSymmetric(h.symmetricPart()).values();
        double[] s = Linalg.svd(a).s();
        for (int i = 0; i < 7; i++) assertThat(eig[i]).isCloseTo(s[i], within(REL * s[0]));
        assertThatThrownBy(() -> Linalg.polar(new DMatrix(3, 2))).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("polar: expected a square matrix, got 3x2");
    }
}
