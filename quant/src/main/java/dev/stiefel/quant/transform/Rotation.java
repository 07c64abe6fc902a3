package dev.stiefel.quant.transform;

import dev.stiefel.autograd.Var;
import dev.stiefel.riemann.hadamard.Hadamard;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;

import java.util.Random;

/**
 * An orthogonal n×n matrix M acting on rows, x ↦ x·M (and x ↦ x·Mᵀ = x·M⁻¹), in two precisions: in f64 in place
 * (for folding into weights and for exact references) and in f32 on tensors (for the forward pass). Both compute
 * the same matrix; only the rounding differs. Hadamard rotations use the fast transform in both.
 */
public interface Rotation {

    /** n. */
    int size();

    /** One line for reports, e.g. "randomized Hadamard 64 (Sylvester(64), seed 0)". */
    String describe();

    /** Rows {@code data[offset + r·n, offset + (r+1)·n)} for r < count, each replaced by row·M (f64, in place). */
    void multiplyRows(double[] data, int offset, int count);

    /** The same with Mᵀ = M⁻¹. */
    void multiplyRowsTransposed(double[] data, int offset, int count);

    /** x·M over the last dim of x (any leading dims), f32. */
    Tensor multiply(Tensor x);

    /** x·Mᵀ over the last dim of x, f32. */
    Tensor multiplyTransposed(Tensor x);

    /** M as an f64 matrix (n² doubles). */
    default DMatrix matrix() {
        DMatrix m = DMatrix.identity(size());
        multiplyRows(m.data, 0, size());
        return m;
    }

    /**
     * x·M on a Var: the fast f32 path when x carries no gradient, else a product with M as a constant (made once per
     * rotation and backend, {@link RotationMatrices}), so a gradient flows through to whatever x depends on.
     */
    default Var multiply(Var x) {
        if (!x.requiresGrad()) return Var.of(multiply(x.value()));
        int[] s = x.shape();
        return x.reshape(-1, size()).matmul(Var.of(RotationMatrices.of(this))).reshape(s);
    }

    // ------------------------------------------------------------ the rotations methods use

    /**
     * H/√n, the normalized Hadamard matrix of order n ({@link Hadamard#matrix}: H_{2^k} ⊗ a Paley/Williamson block).
     * For an order no construction reaches, a Haar-random orthogonal matrix drawn with seed 0 stands in (dense: n²
     * per row); QuaRot's code asserts instead.
     */
    static Rotation hadamard(int n) {
        return Hadamard.isKnown(n) ? new HadamardRotation(n, null, -1) : randomOrthogonal(n, 0);
    }

    /**
     * QuaRot's random Hadamard matrix diag(σ)·H/√n with signs σ ∈ {±1}ⁿ drawn from {@code seed} (QuIP#'s randomized
     * Hadamard transform); a Haar-random orthogonal matrix from the same seed for orders with no Hadamard matrix.
     */
    static Rotation randomHadamard(int n, long seed) {
        if (!Hadamard.isKnown(n)) return randomOrthogonal(n, seed);
        Random rnd = new Random(seed);
        double[] signs = new double[n];
        for (int i = 0; i < n; i++) signs[i] = rnd.nextBoolean() ? 1 : -1;
        return new HadamardRotation(n, signs, seed);
    }

    /** A Haar-random orthogonal matrix (QR of a Gaussian matrix with a positive R diagonal), QuaRot's "random" mode. */
    static Rotation randomOrthogonal(int n, long seed) {
        return new DenseRotation(Linalg.randomOrthogonal(n, new Random(seed)), "random orthogonal " + n + " (seed " + seed + ")", seed);
    }

    /**
     * Any orthogonal matrix, e.g. a learned one (SpinQuant, OSTQuant). Its orthogonality is checked, max |MᵀM − I|
     * ≤ 1e-6, because folding uses Mᵀ as the inverse.
     */
    static Rotation dense(DMatrix m, String description) { return new DenseRotation(m, description); }

    /**
     * r ⊗ I_b: rows of r.size()·b features seen as r.size() blocks of b, each feature position c mixed across the
     * blocks by r. QuaRot's online Hadamard across attention heads (H_heads ⊗ I_headDim) at o_proj's input.
     */
    static Rotation acrossBlocks(Rotation r, int blockSize) { return new AcrossBlocks(r, blockSize); }
}
