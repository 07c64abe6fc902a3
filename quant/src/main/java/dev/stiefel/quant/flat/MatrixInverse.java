package dev.stiefel.quant.flat;

import dev.stiefel.autograd.Var;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;

/**
 * The inverse of a square matrix as an op on the tape, for FlatQuant's free affine factors (the reference's
 * {@code InvDecomposeTransMatrix}, whose weight side uses {@code get_inverse(P)}, computed in f64):
 * <pre>
 *   Y = A⁻¹ (LU in f64, rounded to f32 once),   dA = −A⁻ᵀ · dY · A⁻ᵀ   (from d(A⁻¹) = −A⁻¹ · dA · A⁻¹)
 * </pre>
 */
public final class MatrixInverse {
    private MatrixInverse() {}

    /** A⁻¹ of a square [n, n] matrix; a singular matrix fails with its size. */
    public static Var of(Var a) {
        Tensor inv = Tensor.of(inverse(a.value()));
        return Var.op("inverse", inv, g -> {
            Tensor it = inv.t();
            return new Tensor[]{it.matmul(g).matmul(it).neg()};
        }, a);
    }

    /** A⁻¹ in f64 of an f32 matrix (every f32 value exact in f64). */
    public static DMatrix inverse(Tensor a) {
        int[] s = a.shape();
        if (s.length != 2 || s[0] != s[1]) throw new IllegalArgumentException("inverse: needs a square matrix, got " + java.util.Arrays.toString(s));
        return Linalg.inverse(a.contiguous().toDMatrix());
    }
}
