package dev.stiefel.riemann.hadamard;

import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;

import java.util.Random;

/**
 * A randomized Hadamard transform Q = diag(σ)·H/√n with seeded random signs σ ∈ {±1}ⁿ, the random orthogonal
 * matrix QuaRot (Ashkboos et al. 2024) and SpinQuant use to rotate away activation outliers: orthogonal,
 * incoherent (every |Q_ij| = 1/√n) and cheap to apply. For an n without a Hadamard matrix, H/√n is
 * {@link HadamardTransform#orthogonal}'s fallback, drawn from the same seed.
 */
public final class RandomizedHadamard {
    private final HadamardTransform h;
    private final float[] signs;
    private final long seed;

    private RandomizedHadamard(HadamardTransform h, float[] signs, long seed) {
        this.h = h;
        this.signs = signs;
        this.seed = seed;
    }

    public static RandomizedHadamard of(int n, long seed) {
        Random rnd = new Random(seed);
        float[] signs = new float[n];
        for (int i = 0; i < n; i++) signs[i] = rnd.nextBoolean() ? 1f : -1f;
        return new RandomizedHadamard(HadamardTransform.orthogonal(n, seed), signs, seed);
    }

    public int size() { return signs.length; }

    public long seed() { return seed; }

    /** The diagonal σ, a copy. */
    public float[] signs() { return signs.clone(); }

    /** The orthogonal part H/√n (or the fallback). */
    public HadamardTransform transform() { return h; }

    /** x·Q = (x ⊙ σ)·H/√n over the last dim. */
    public Tensor multiply(Tensor x) { return h.multiply(x.mul(signVector())); }

    /** x·Qᵀ = (x·Hᵀ/√n) ⊙ σ over the last dim: the inverse of {@link #multiply}. */
    public Tensor multiplyTransposed(Tensor x) { return h.multiplyTransposed(x).mul(signVector()); }

    private Tensor signVector() { return Tensor.wrap(signs, signs.length); }

    /** Q as f64: row i of H/√n times σ_i. */
    public DMatrix toDMatrix() {
        DMatrix m = h.toDMatrix();
        int n = signs.length;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) m.data[i * n + j] *= signs[i];
        return m;
    }

    /** Q as an f32 tensor [n, n]. */
    public Tensor matrix() { return Tensor.of(toDMatrix()); }
}
