package dev.stiefel.riemann.hadamard;

import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.FloatStorage;
import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;

import java.util.Random;

/**
 * Multiplies the rows of a tensor by an n×n matrix M = s·(H_{2^k} ⊗ D) without forming M: D is a dense m×m
 * block (a Hadamard block, or for the fallback a scaled orthogonal one), H_{2^k} is Sylvester's matrix, applied
 * by the fast Walsh–Hadamard transform, and s a scale (1/√n makes M orthogonal). Every M here has
 * M Mᵀ = s²·n·I.
 *
 * <p>With a row x viewed as the row-major [2^k, m] matrix X, the product x·M is s·H X D (Sylvester's matrix is
 * symmetric): one matmul of all rows at once, [rows·2^k, m]·[m, m] (Sgemm), then the FWHT along the first
 * axis of each row's [2^k, m] slab. That costs n·(2m + log₂2^k) flops per row instead of 2n²: for n = 11008 =
 * 2^6·172, 350 per element instead of 22016.
 */
public final class HadamardTransform {
    private final int n, powerOfTwo, blockOrder;
    private final float[] block;      // D, row-major m×m, unscaled
    private final float scale;
    private final boolean hadamard;
    private final String description;
    private final Tensor right, rightTransposed; // s·D and s·Dᵀ for the matmul (m > 1)

    private HadamardTransform(int powerOfTwo, int blockOrder, float[] block, float scale, boolean hadamard, String description) {
        this.n = powerOfTwo * blockOrder;
        this.powerOfTwo = powerOfTwo;
        this.blockOrder = blockOrder;
        this.block = block;
        this.scale = scale;
        this.hadamard = hadamard;
        this.description = description;
        if (blockOrder > 1) {
            Tensor d = Tensor.wrap(block, blockOrder, blockOrder).mul(scale);
            this.right = d;
            this.rightTransposed = d.t().contiguous();
        } else {
            this.right = this.rightTransposed = null;
        }
    }

    /** The Hadamard matrix of order n ({@link Hadamard#matrix}), unnormalized: entries ±1. */
    public static HadamardTransform of(int n) { return of(Hadamard.matrix(n)); }

    public static HadamardTransform of(HadamardMatrix h) {
        byte[] b = h.blockView();
        float[] f = new float[b.length];
        for (int i = 0; i < b.length; i++) f[i] = b[i];
        return new HadamardTransform(h.powerOfTwo(), h.blockOrder(), f, 1f, true, h.construction());
    }

    /**
     * An orthogonal n×n transform for any n ≥ 1: the normalized Hadamard matrix H/√n when one can be built, and
     * otherwise the documented fallback Q = (H_h ⊗ R)/√h, where h is the largest order dividing n that has a
     * Hadamard matrix and R is a Haar-random orthogonal matrix of order r = n / h drawn from {@code seed}. Q is
     * orthogonal but not a scaled ±1 matrix: it still mixes every coordinate of a block of h with every other,
     * while within the random factor outliers are spread only in expectation, not with Hadamard's guaranteed
     * max |Q_ij| = 1/√n. Example: n = 188·2^k = 2^(k+2)·47 gives Sylvester(2^(k+2)) ⊗ R₄₇.
     */
    public static HadamardTransform orthogonal(int n, long seed) {
        if (n < 1) throw new IllegalArgumentException("HadamardTransform: size must be >= 1, got " + n);
        if (Hadamard.isKnown(n)) return of(n).normalized();
        int h = 1;
        for (int d = n / 2; d >= 2; d--)
            if (n % d == 0 && Hadamard.isKnown(d)) { h = d; break; }
        int r = n / h;
        HadamardMatrix hm = Hadamard.matrix(h);
        DMatrix q = Linalg.randomOrthogonal(r, new Random(seed));
        // M = H_{2^k} ⊗ (B ⊗ √r·R): the dense block is B ⊗ √r·R, so that M Mᵀ = n I like a Hadamard matrix
        int m = hm.blockOrder(), mb = m * r;
        byte[] b = hm.blockView();
        float[] d = new float[mb * mb];
        double sqrtR = Math.sqrt(r);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++)
                for (int k = 0; k < r; k++)
                    for (int l = 0; l < r; l++) d[(i * r + k) * mb + j * r + l] = (float) (b[i * m + j] * sqrtR * q.data[k * r + l]);
        String desc = hm.construction() + " ⊗ RandomOrthogonal(" + r + ", seed " + seed + ")";
        return new HadamardTransform(hm.powerOfTwo(), mb, d, (float) (1 / Math.sqrt(n)), false, desc);
    }

    /** The same transform scaled by 1/√n: orthogonal, M⁻¹ = Mᵀ. */
    public HadamardTransform normalized() {
        return new HadamardTransform(powerOfTwo, blockOrder, block, (float) (1 / Math.sqrt(n)), hadamard, description);
    }

    public int size() { return n; }

    /** True when M is a (scaled) Hadamard matrix, false for the random-orthogonal fallback. */
    public boolean isHadamard() { return hadamard; }

    public float scale() { return scale; }

    /** 2^k and m of M = s·(H_{2^k} ⊗ D). */
    public int powerOfTwo() { return powerOfTwo; }

    public int blockOrder() { return blockOrder; }

    public String description() { return description; }

    /** x·M over the last dim of {@code x} (any leading dims): each row r becomes r·M. */
    public Tensor multiply(Tensor x) { return apply(x, false); }

    /** x·Mᵀ over the last dim of {@code x}: for a normalized transform this undoes {@link #multiply}. */
    public Tensor multiplyTransposed(Tensor x) { return apply(x, true); }

    private Tensor apply(Tensor x, boolean transposed) {
        int[] shape = x.shape();
        if (shape.length == 0 || shape[shape.length - 1] != n)
            throw new IllegalArgumentException("HadamardTransform: the last dim of " + Shape.str(shape) + " must be " + n);
        int rows = (int) (Shape.numel(shape) / n);
        int grain = Math.max(1, (1 << 16) / n); // rows per task: at least ~64k elements
        if (blockOrder == 1) { // the FWHT's first stages read x and write the result: no copy pass
            Tensor onDevice = x.isOnDevice() ? Backends.current().fwht(x, rows, n, 1, scale) : null;
            if (onDevice != null) return onDevice;
            Tensor in = x.contiguous().to(DType.F32);
            float[] src = ((FloatStorage) in.storage()).data(), dst = new float[rows * n];
            int srcBase = in.offset();
            Parallel.forRange(rows, grain, (r0, r1) -> {
                for (int r = r0; r < r1; r++) Fwht.transform(src, srcBase + r * n, dst, r * n, n, scale);
            });
            return Tensor.wrap(dst, shape);
        }
        // X·D (or X·Dᵀ) for every row's [2^k, m] slab at once, the scale folded into D; then H_{2^k} across the slab
        Tensor product = x.contiguous().reshape(rows * powerOfTwo, blockOrder).matmul(transposed ? rightTransposed : right).reshape(shape);
        if (product.isOnDevice()) { // H_{2^k} across each row's slab where the product is
            Tensor onDevice = powerOfTwo == 1 ? product : Backends.current().fwht(product, rows, powerOfTwo, blockOrder, 1f);
            if (onDevice != null) return onDevice;
        }
        Tensor out = product.to(DType.F32); // the heap FWHT below: a device product comes over, a heap one is used as it is
        if (powerOfTwo > 1) {
            float[] data = ((FloatStorage) out.storage()).data();
            int base = out.offset();
            Parallel.forRange(rows, grain, (r0, r1) -> {
                for (int r = r0; r < r1; r++) Fwht.transformRows(data, base + r * n, powerOfTwo, blockOrder, 1f);
            });
        }
        return out;
    }

    /** M itself as f64 (n² doubles), for references and for fusing into weights. */
    public DMatrix toDMatrix() {
        double[] d = new double[Math.multiplyExact(n, n)];
        int m = blockOrder;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                int sylvester = (Integer.bitCount((i / m) & (j / m)) & 1) == 0 ? 1 : -1;
                d[i * n + j] = (double) scale * sylvester * block[(i % m) * m + j % m];
            }
        return new DMatrix(n, n, d);
    }

    /** M as an f32 tensor [n, n]. */
    public Tensor matrix() { return Tensor.of(toDMatrix()); }

    @Override public String toString() { return "HadamardTransform(" + n + " = " + description + (scale != 1f ? ", scale " + scale : "") + ")"; }
}
