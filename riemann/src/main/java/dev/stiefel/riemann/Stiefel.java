package dev.stiefel.riemann;

import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;

import java.util.Random;

/**
 * The Stiefel manifold St(n, p) = { X ∈ ℝ^{n×p} : XᵀX = I }, n ≥ p: tall matrices with orthonormal columns
 * (p = n gives the orthogonal group). Points and tangent vectors are f32 tensors [n, p]; a tangent vector U at X
 * satisfies XᵀU + UᵀX = 0.
 *
 * <p>Products run as f32 tensor matmuls; the small factorizations (QR, the eigendecomposition inside the polar
 * factor, the Cayley solve below 256 columns on the CPU) run in f64 through {@link Linalg}; a square Cayley step on a
 * device or from 256 columns is matrix products alone ({@link #retractCayleyByProducts}). Formulas follow Edelman, Arias &amp; Smith, "The
 * geometry of algorithms with orthogonality constraints" (SIAM J. Matrix Anal. Appl. 1998), cited as [EAS98].
 */
public final class Stiefel {
    private Stiefel() {}

    /**
     * The inner product on tangent spaces. EUCLIDEAN is the one inherited from ℝ^{n×p}, ⟨U, V⟩ = tr(UᵀV);
     * CANONICAL is ⟨U, V⟩ = tr(Uᵀ(I − ½XXᵀ)V) [EAS98 eq. 2.39], the metric of the quotient O(n)/O(n−p), under
     * which the Cayley transform is the natural retraction. geoopt's {@code Stiefel()} defaults to canonical.
     */
    public enum Metric { EUCLIDEAN, CANONICAL }

    /** Throws unless {@code x} is 2-D [n, p] with n ≥ p ≥ 1; {@code who} names the caller in the message. */
    static void requireTall(String who, Tensor x) {
        int[] s = x.shape();
        if (s.length != 2 || s[0] < s[1] || s[1] < 1)
            throw new IllegalArgumentException(who + ": a Stiefel point must be a 2-D [n, p] matrix with n >= p >= 1"
                    + " (orthonormal columns), got " + Shape.str(s) + (s.length == 2 && s[0] < s[1]
                    ? "; for orthonormal rows pass the transpose" : ""));
    }

    private static void requireSameShape(String who, Tensor x, Tensor u) {
        if (!java.util.Arrays.equals(x.shape(), u.shape()))
            throw new IllegalArgumentException(who + ": point " + Shape.str(x.shape()) + " and tangent vector "
                    + Shape.str(u.shape()) + " differ in shape");
    }

    /** max |XᵀX − I| computed in f64: 0 for exactly orthonormal columns. */
    public static double orthogonalityError(Tensor x) {
        requireTall("orthogonalityError", x);
        return Linalg.orthogonalityError(x.toDMatrix());
    }

    /**
     * A Haar-distributed random point of St(n, p): the thin QR factor of an n×p standard Gaussian matrix with the
     * signs fixed so that R has a positive diagonal (Mezzadri, "How to generate random matrices from the classical
     * compact groups", Notices AMS 2007). For p = n this is a uniformly random orthogonal matrix.
     */
    public static Tensor random(int n, int p, Random rnd) {
        if (n < p || p < 1) throw new IllegalArgumentException("Stiefel.random: needs n >= p >= 1, got n = " + n + ", p = " + p);
        return Tensor.of(Linalg.qr(DMatrix.random(n, p, rnd)).q());
    }

    /** A uniformly random n×n orthogonal matrix from {@code seed}. */
    public static Tensor randomOrthogonal(int n, long seed) { return random(n, n, new Random(seed)); }

    /**
     * The point of St(n, p) nearest to {@code y} in the Frobenius norm: the orthogonal polar factor
     * Y (YᵀY)^(−1/2), computed from the eigendecomposition of the p×p Gram matrix in f64 (the same point as
     * U Vᵀ from the SVD Y = U S Vᵀ, which is geoopt's {@code projx}). Throws when Y's columns are (numerically)
     * linearly dependent.
     */
    public static Tensor project(Tensor y) {
        requireTall("Stiefel.project", y);
        DMatrix yd = y.toDMatrix();
        return Tensor.of(yd.multiply(inverseSqrt("Stiefel.project", yd.transpose().multiply(yd).symmetricPart())));
    }

    /**
     * One Newton–Schulz iteration toward the polar factor, Y ← Y + ½Y(I − YᵀY) (Björck &amp; Bowie, "An iterative
     * algorithm for computing the best estimate of an orthogonal matrix", SIAM J. Numer. Anal. 1971): for a Y
     * with max |YᵀY − I| = e it leaves an error of about (3/2)e², in two f32 matmuls of n·p² multiply-adds, so
     * it is cheap enough to run after every optimizer step. The f32 products limit it to about one ulp per
     * summand; {@link #project} is the f64 version.
     */
    public static Tensor polish(Tensor y) {
        requireTall("Stiefel.polish", y);
        return y.mul(1.5f).sub(y.matmul(y.t().matmul(y)).mul(0.5f));
    }

    /** G^(−1/2) for a symmetric positive definite G, through G = V Λ Vᵀ. */
    static DMatrix inverseSqrt(String who, DMatrix g) {
        Linalg.Eigen e = Linalg.eigSymmetric(g);
        int p = g.rows;
        double largest = e.values()[0], smallest = e.values()[p - 1];
        if (!(smallest > 1e-10 * largest))
            throw new IllegalArgumentException(who + ": the columns are linearly dependent (Gram eigenvalues "
                    + largest + " .. " + smallest + "); no nearest orthonormal matrix is defined");
        DMatrix scaled = e.vectors().copy(); // V Λ^(−1/2), column by column
        for (int i = 0; i < p; i++)
            for (int j = 0; j < p; j++) scaled.data[i * p + j] /= Math.sqrt(e.values()[j]);
        return scaled.multiply(e.vectors().transpose());
    }

    /**
     * The Riemannian gradient of a function with Euclidean gradient G at X. EUCLIDEAN: the orthogonal projection
     * onto the tangent space, G − X sym(XᵀG) [EAS98 eq. 2.4 with the embedded metric]; CANONICAL: G − X GᵀX
     * [EAS98 eq. 2.53]. Both give tangent vectors; geoopt uses the same maps as {@code proju}.
     */
    public static Tensor tangent(Tensor x, Tensor g, Metric metric) {
        requireTall("Stiefel.tangent", x);
        requireSameShape("Stiefel.tangent", x, g);
        return switch (metric) {
            case EUCLIDEAN -> {
                Tensor xtg = x.t().matmul(g);
                yield g.sub(x.matmul(xtg.add(xtg.t()).mul(0.5f)));
            }
            case CANONICAL -> g.sub(x.matmul(g.t().matmul(x)));
        };
    }

    /** ⟨U, U⟩ at X in the given metric, accumulated in f64 (on a device where it is): ‖U‖² or ‖U‖² − ½‖XᵀU‖². */
    public static double squaredNorm(Tensor x, Tensor u, Metric metric) {
        requireSameShape("Stiefel.squaredNorm", x, u);
        double uu = sumOfSquares(u);
        return metric == Metric.EUCLIDEAN ? uu : uu - 0.5 * sumOfSquares(x.t().matmul(u));
    }

    static double sumOfSquares(Tensor t) {
        if (t.isOnDevice()) { // summed where it is, in f64 as below: one value comes down, not the matrix
            java.util.OptionalDouble there = Backends.current().sumOfSquares(t);
            if (there.isPresent()) return there.getAsDouble();
        }
        double s = 0;
        for (float v : t.toFloatArray()) s += (double) v * v;
        return s;
    }

    /**
     * The QR retraction qf(X + U): the orthonormal factor of the thin QR decomposition, with the signs chosen so
     * that R has a positive diagonal [EAS98 §2.2; Absil, Mahony &amp; Sepulchre, "Optimization Algorithms on Matrix
     * Manifolds" (2008), eq. 4.8]. Costs an f64 Householder QR of an n×p matrix.
     */
    public static Tensor retractQr(Tensor x, Tensor u) {
        requireTall("Stiefel.retractQr", x);
        requireSameShape("Stiefel.retractQr", x, u);
        return Tensor.of(Linalg.qr(x.add(u).toDMatrix()).q());
    }

    /**
     * The polar retraction (X + U)(I + UᵀU)^(−1/2) [Absil et al. 2008, eq. 4.7]: for tangent U this is the
     * nearest orthonormal matrix to X + U, which is how it is computed ({@link #project}), so it stays exact
     * when U has drifted slightly off the tangent space.
     */
    public static Tensor retractPolar(Tensor x, Tensor u) {
        requireTall("Stiefel.retractPolar", x);
        requireSameShape("Stiefel.retractPolar", x, u);
        return project(x.add(u));
    }

    /**
     * The Cayley retraction and the vector transport that comes with it. For a tangent U at X let
     * Ũ = (I − ½XXᵀ)U, A = ŨXᵀ − XŨᵀ (skew) and Q = (I − ½A)⁻¹(I + ½A) (orthogonal); returns Q X, the new
     * point, followed by Q V for each vector V in {@code carried} (Wen &amp; Yin, "A feasible method for
     * optimization with orthogonality constraints", Math. Program. 2013, eq. 7; Li et al. 2020, eq. 6). Since
     * A X = U for tangent U, the curve τ ↦ Q(τ)X leaves X with velocity U: a first-order retraction.
     *
     * <p>geoopt's {@code CanonicalStiefel} builds A from U itself; then A X = U + XXᵀU, which doubles the part
     * of the step inside span(X): on square matrices (O(n), where XXᵀ = I) its steps are twice as long as the
     * tangent vector says. This method follows the papers.
     *
     * <p>Solved in f64 ({@link #retractCayleyBySolve}). A has rank 2p, A = L Rᵀ with L = [Ũ, X] and R = [X, −Ũ], so
     * when 2p &lt; n the n×n solve is replaced by the Sherman–Morrison–Woodbury identity
     * (I − ½LRᵀ)⁻¹ = I + ½L(I − ½RᵀL)⁻¹Rᵀ, a 2p×2p solve (Wen &amp; Yin, Lemma 4(1)). A square point (2p ≥ n) on a
     * device, or from {@link #PRODUCTS_FROM} columns, takes f32 matrix products instead
     * ({@link #retractCayleyByProducts}), which agree with the solve to f32 rounding.
     */
    public static Tensor[] retractCayley(Tensor x, Tensor u, Tensor... carried) {
        requireCayleyOperands("Stiefel.retractCayley", x, u, carried);
        int n = x.size(0), p = x.size(1);
        if (2 * p >= n && (x.isOnDevice() || n >= PRODUCTS_FROM)) {
            Tensor[] byProducts = retractCayleyByProducts(x, u, carried);
            if (byProducts != null) return byProducts;
        }
        return retractCayleyBySolve(x, u, carried);
    }

    /** {@link #retractCayley} in f64 with a solve: n×n, or 2p×2p through Sherman–Morrison–Woodbury when 2p &lt; n. */
    public static Tensor[] retractCayleyBySolve(Tensor x, Tensor u, Tensor... carried) {
        requireCayleyOperands("Stiefel.retractCayleyBySolve", x, u, carried);
        int n = x.size(0), p = x.size(1), k = 1 + carried.length;
        DMatrix xd = x.toDMatrix(), u0 = u.toDMatrix();
        DMatrix ud = u0.subtract(xd.multiply(xd.transpose().multiply(u0)).scale(0.5)); // Ũ
        DMatrix z = new DMatrix(n, k * p); // [X, V1, V2, ...]
        place(z, xd, 0);
        for (int c = 0; c < carried.length; c++) place(z, carried[c].toDMatrix(), (c + 1) * p);
        DMatrix out;
        if (2 * p < n) {
            DMatrix l = new DMatrix(n, 2 * p), r = new DMatrix(n, 2 * p);
            place(l, ud, 0); place(l, xd, p);
            place(r, xd, 0); place(r, ud.scale(-1), p);
            DMatrix rt = r.transpose();
            // T = (I + ½A) Z = Z + ½ L (Rᵀ Z); then (I − ½A)⁻¹ T = T + ½ L (I − ½RᵀL)⁻¹ (Rᵀ T)
            DMatrix t = z.add(l.multiply(rt.multiply(z)).scale(0.5));
            DMatrix small = DMatrix.identity(2 * p).subtract(rt.multiply(l).scale(0.5));
            out = t.add(l.multiply(Linalg.solve(small, rt.multiply(t))).scale(0.5));
        } else {
            DMatrix halfA = ud.multiply(xd.transpose()).subtract(xd.multiply(ud.transpose())).scale(0.5);
            DMatrix lhs = DMatrix.identity(n).subtract(halfA);
            out = Linalg.solve(lhs, z.add(halfA.multiply(z)));
        }
        Tensor[] result = new Tensor[k];
        for (int c = 0; c < k; c++) result[c] = Tensor.of(columns(out, c * p, p));
        return result;
    }

    /**
     * Square points (2p ≥ n) from this size on take {@link #retractCayleyByProducts} on the CPU too: with a carried
     * vector the f64 n×n solve costs 1.6-1.7 s at n = 1024 and 13.4-13.8 s at n = 2048 on two cores, the products
     * 0.17-0.25 s and 1.2-1.3 s (CayleyBench, docs/BENCHMARKS.md). Below it the f64 solve is cheap, and every figure of
     * docs/RESULTS.md (head dimension 8, model dimension 64) was made with it.
     */
    static final int PRODUCTS_FROM = 256;

    /**
     * The Cayley retraction of {@link #retractCayley} by f32 matrix products alone, for square points (2p ≥ n): what a
     * device runs (no factorization; only ‖A‖² comes to the heap), and the CPU from {@link #PRODUCTS_FROM} columns.
     * Since (I − ½A) and (I + ½A) commute,
     * <pre>
     *   Q = (I − ½A)⁻¹(I + ½A) = M⁻¹(I + ½A)²,   M = (I + ½A)(I − ½A) = I − ¼A² = I + ¼AᵀA   (A skew).
     * </pre>
     * M is symmetric with eigenvalues in [1, L], L = 1 + ⅛‖A‖²_F (the singular values of a real skew matrix come in
     * pairs, so ‖A‖₂² ≤ ½‖A‖²_F). With α = 2/(1 + L) and R = I − αM, ‖R‖₂ ≤ r = (L − 1)/(L + 1) &lt; 1, and the Neumann
     * series grouped by repeated squaring gives
     * <pre>
     *   M⁻¹ = α Σⱼ Rʲ = α (I + R)(I + R²)(I + R⁴) ··· (I + R^(2^(f−1))) + R^(2^f) M⁻¹.
     * </pre>
     * The remainder applied to (I + ½A)²Z is R^(2^f) Q Z, at most r^(2^f) in a column of unit norm, so f is the fewest
     * factors with r^(2^f) ≤ 2⁻²⁶, below f32 rounding. Powers of R are carried as cI + P, P a polynomial in A², so no
     * identity matrix is formed: (cI + P)² = c²I + (2cP + P²). Rounding in the products grows with the step like L (the
     * size of (I + ½A)²Z): a step with r &gt; 0.9 (‖A‖_F &gt; 12, L &gt; 19; optimizers here take steps of ‖A‖_F ≈ lr)
     * returns null, for the f64 solve. StiefelTest compares the two.
     */
    public static Tensor[] retractCayleyByProducts(Tensor x, Tensor u, Tensor... carried) {
        requireCayleyOperands("Stiefel.retractCayleyByProducts", x, u, carried);
        int p = x.size(1), k = 1 + carried.length;
        Tensor uTilde = u.sub(x.matmul(x.t().matmul(u)).mul(0.5f));         // Ũ = (I − ½XXᵀ)U
        Tensor b = uTilde.matmul(x.t());
        Tensor halfA = b.sub(b.t()).mul(0.5f);                               // ½A = ½(ŨXᵀ − XŨᵀ)
        double frobenius2 = 4.0 * sumOfSquares(halfA);                       // ‖A‖²_F
        double bigL = 1 + frobenius2 / 8, alpha = 2 / (1 + bigL), r = (bigL - 1) / (bigL + 1);
        if (!(r <= 0.9)) return null;
        Tensor[] columns = new Tensor[k];
        columns[0] = x;
        System.arraycopy(carried, 0, columns, 1, carried.length);
        Tensor w = k == 1 ? x : Tensor.concat(1, columns);                   // Z = [X, V1, V2, ...]
        w = w.add(halfA.matmul(w));
        w = w.add(halfA.matmul(w));                                          // (I + ½A)² Z
        double c = 1 - alpha;                                                // R = cI + P, P = α(½A)² = (α/4)A²
        Tensor pm = halfA.matmul(halfA).mul((float) alpha);
        int factors = 0;
        for (double rest = r; rest > 0x1p-26; rest *= rest) factors++;
        for (int f = 0; f < factors; f++) {
            w = w.mul((float) (1 + c)).add(pm.matmul(w));                    // (I + R^(2^f)) W
            if (f + 1 < factors) {
                pm = pm.mul((float) (2 * c)).add(pm.matmul(pm));
                c *= c;
            }
        }
        w = w.mul((float) alpha);                                            // Q Z = α Π (I + R^(2^f)) (I + ½A)² Z
        Tensor[] result = new Tensor[k];
        for (int i = 0; i < k; i++) result[i] = k == 1 ? w : w.narrow(1, i * p, p).contiguous();
        return result;
    }

    private static void requireCayleyOperands(String who, Tensor x, Tensor u, Tensor[] carried) {
        requireTall(who, x);
        requireSameShape(who, x, u);
        for (Tensor v : carried) requireSameShape(who, x, v);
    }

    /** Copies {@code block} into {@code target}'s columns starting at {@code col}. */
    private static void place(DMatrix target, DMatrix block, int col) {
        for (int i = 0; i < block.rows; i++)
            System.arraycopy(block.data, i * block.cols, target.data, i * target.cols + col, block.cols);
    }

    private static DMatrix columns(DMatrix m, int col, int count) {
        DMatrix out = new DMatrix(m.rows, count);
        for (int i = 0; i < m.rows; i++) System.arraycopy(m.data, i * m.cols + col, out.data, i * count, count);
        return out;
    }
}
