package dev.stiefel.riemann;

import dev.stiefel.autograd.LrSchedule;
import dev.stiefel.autograd.Var;
import dev.stiefel.tensor.Tensor;

import java.util.List;

/**
 * Cayley SGD with momentum: Li, Li &amp; Todorovic, "Efficient Riemannian optimization on the Stiefel manifold via
 * the Cayley transform", ICLR 2020, Algorithm 2, the optimizer SpinQuant (Liu et al. 2024) learns its rotations
 * with. The Cayley transform Y(α) = (I − α/2 W)⁻¹(I + α/2 W) X is never solved for: a few fixed-point iterations
 * Y ← X + α/2 W (X + Y) approximate it using matrix products only, which converge because the step is capped at
 * α ≤ 2q/‖W‖.
 *
 * <p>As in SpinQuant's {@code SGDG}: s = 5 fixed-point iterations (the paper uses 2), q = 0.5, ‖W‖ the matrix
 * 1-norm (largest absolute column sum), ε = 1e-8. SpinQuant starts the iteration from X + αM with the momentum
 * before projection; this follows the paper's line 8 and starts from the projected momentum W X, the first-order
 * Cayley step. SpinQuant re-orthonormalizes by QR on a random 1% of steps; here it is deterministic, every
 * {@code stabilizeEvery} steps, by the polar projection (see {@link StiefelOptimizer}).
 *
 * <p>The fixed-point iterate is not exactly orthogonal: at the step cap (α‖W‖₁ = 2q) each step leaves an error of
 * a few 1e-6, which adds up (max |XᵀX − I| = 2.4e-2 after 10,000 steps on random gradients, 16×16). With
 * {@code polish} (the default) every step ends with one Newton–Schulz step ({@link Stiefel#polish}), which keeps
 * the error near 3e-7 for two more n·p² matmuls.
 *
 * <p>All products are f32 tensor matmuls (Sgemm); a step on an n×p parameter costs about (3 + s)·n²p + 2np²
 * multiply-adds.
 */
public final class CayleySgd extends StiefelOptimizer {
    private final double momentum;
    private final int iterations;
    private final double q;
    private final boolean polish;
    private final ParameterState velocity; // M, kept projected (W X) between steps

    /** ε of the paper's Algorithm 2, which keeps α finite when W = 0. */
    private static final double EPS = 1e-8;

    public CayleySgd(List<Var> params, LrSchedule lr, double momentum, int iterations, double q, boolean polish,
                     int stabilizeEvery) {
        super("CayleySgd", params, lr, stabilizeEvery);
        if (!(momentum >= 0 && momentum < 1)) throw new IllegalArgumentException("CayleySgd: momentum must be in [0, 1), got " + momentum);
        if (iterations < 1) throw new IllegalArgumentException("CayleySgd: needs at least 1 fixed-point iteration, got " + iterations);
        if (!(q > 0 && q < 1)) throw new IllegalArgumentException("CayleySgd: q must be in (0, 1) for the iteration to contract, got " + q);
        this.momentum = momentum;
        this.iterations = iterations;
        this.q = q;
        this.polish = polish;
        this.velocity = new ParameterState();
    }

    /** SpinQuant's settings (5 iterations, q = 0.5), polished after every step and stabilized every 100. */
    public CayleySgd(List<Var> params, LrSchedule lr, double momentum) {
        this(params, lr, momentum, 5, 0.5, true, 100);
    }

    /** The velocities M, one per parameter. */
    @Override public List<float[]> state() { return velocity.arrays(); }

    @Override protected Tensor step(int index, Tensor x, Tensor g, double lr, int t) {
        Tensor xt = x.t();
        Tensor m = velocity.read(index).mul((float) momentum).sub(g);   // line 3: M ← βM − G
        // line 4: Ŵ = M Xᵀ − ½ X (Xᵀ M Xᵀ), formed as (M − ½ X (XᵀM)) Xᵀ
        Tensor wHat = m.sub(x.matmul(xt.matmul(m)).mul(0.5f)).matmul(xt);
        Tensor w = wHat.sub(wHat.t());                                              // line 5: W = Ŵ − Ŵᵀ (skew)
        m = w.matmul(x);                                                            // line 6: M ← W X
        velocity.write(index, m);
        double norm1 = w.abs().sum(0, false).max().item();
        double alpha = Math.min(lr, 2 * q / (norm1 + EPS));                         // line 7
        float halfAlpha = (float) (alpha / 2);
        Tensor y = x.add(m.mul((float) alpha));                                     // line 8: Y⁰ = X + αM
        for (int i = 0; i < iterations; i++) y = x.add(w.matmul(x.add(y)).mul(halfAlpha)); // line 9
        return polish ? Stiefel.polish(y) : y;
    }

    /** The velocity W X was tangent at the old point; project it onto the tangent space of the corrected one. */
    @Override protected void stabilized(int index, Tensor x) {
        velocity.write(index, Stiefel.tangent(x, velocity.read(index), Stiefel.Metric.EUCLIDEAN));
    }
}
