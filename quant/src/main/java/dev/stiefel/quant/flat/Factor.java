package dev.stiefel.quant.flat;

import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.quant.Parameters;
import dev.stiefel.riemann.Stiefel;
import dev.stiefel.riemann.hadamard.Hadamard;
import dev.stiefel.tensor.Tensor;

import java.util.List;

/**
 * One learnable square factor P of a Kronecker transform, with its inverse transpose P⁻ᵀ (what the weights get, since
 * x·P·P⁻¹·Wᵀ = x·Wᵀ needs W' = W·P⁻ᵀ), in one of three forms:
 * <ul>
 *   <li>{@link Form#FREE}: P itself, P⁻ᵀ by {@link MatrixInverse} on the tape (FlatQuant's {@code --direct_inv});</li>
 *   <li>{@link Form#SVD}: P = U·diag(σ)·Vᵀ with U, V orthogonal (on the Stiefel manifold) and σ free, so
 *       P⁻ᵀ = U·diag(1/σ)·Vᵀ needs no inverse (FlatQuant's default {@code SVDDecomposeTransMatrix});</li>
 *   <li>{@link Form#ORTHOGONAL}: P = Q on the Stiefel manifold, P⁻ᵀ = Q (the rotation candidate).</li>
 * </ul>
 */
public final class Factor {

    public enum Form { FREE, SVD, ORTHOGONAL }

    private final Form form;
    private final int n;
    private final Var a, sigma, v;

    private Factor(Form form, Var a, Var sigma, Var v) {
        this.form = form;
        this.n = a.shape()[0];
        this.a = a;
        this.sigma = sigma;
        this.v = v;
    }

    /** A free matrix starting at {@code init}. */
    public static Factor free(Tensor init) { return new Factor(Form.FREE, Parameters.of(init.contiguous().copy()), null, null); }

    /** U·diag(σ)·Vᵀ starting at σ = 1. */
    public static Factor svd(Tensor u, Tensor v) {
        return new Factor(Form.SVD, Parameters.of(u.contiguous().copy()), Parameters.of(Tensor.ones(u.size(0))), Parameters.of(v.contiguous().copy()));
    }

    /** An orthogonal matrix starting at {@code q}. */
    public static Factor orthogonal(Tensor q) { return new Factor(Form.ORTHOGONAL, Parameters.of(q.contiguous().copy()), null, null); }

    /**
     * The starting point of a factor of size n: FlatQuant's random orthogonal matrix ({@code get_init_weight}) for the
     * affine forms (for SVD: U and V random orthogonal, σ = 1), and for the rotation form the normalised Hadamard
     * matrix where one of that order is known, else a random orthogonal one.
     */
    public static Factor initial(Form form, int n, long seed) {
        return switch (form) {
            case FREE -> free(Stiefel.randomOrthogonal(n, seed));
            case SVD -> svd(Stiefel.randomOrthogonal(n, seed), Stiefel.randomOrthogonal(n, seed + 0x9E3779B9L));
            case ORTHOGONAL -> orthogonal(Hadamard.isKnown(n) ? Hadamard.matrix(n).toTensor((float) (1 / Math.sqrt(n))) : Stiefel.randomOrthogonal(n, seed));
        };
    }

    public Form form() { return form; }

    public int size() { return n; }

    /** P on the tape. */
    public Var matrix() {
        return form == Form.SVD ? a.mul(sigma.reshape(1, n)).matmul(v.t()) : a;
    }

    /** P⁻ᵀ on the tape. */
    public Var inverseTranspose() {
        return switch (form) {
            case FREE -> MatrixInverse.of(a).t();
            case SVD -> a.mul(sigma.reciprocal().reshape(1, n)).matmul(v.t());
            case ORTHOGONAL -> a;
        };
    }

    /** P's current value (what runs online after folding). */
    public Tensor value() {
        try (var off = Grad.off()) {
            return matrix().value().contiguous();
        }
    }

    /** Parameters for a Euclidean optimizer (AdamW): the free matrix, or σ. */
    public List<Var> euclidean() {
        return switch (form) {
            case FREE -> List.of(a);
            case SVD -> List.of(sigma);
            case ORTHOGONAL -> List.of();
        };
    }

    /** Parameters on the Stiefel manifold (Riemannian Adam): U and V, or Q. */
    public List<Var> stiefel() {
        return switch (form) {
            case FREE -> List.of();
            case SVD -> List.of(a, v);
            case ORTHOGONAL -> List.of(a);
        };
    }

    @Override public String toString() { return form.name().toLowerCase(java.util.Locale.ROOT) + " " + n + "×" + n; }
}
