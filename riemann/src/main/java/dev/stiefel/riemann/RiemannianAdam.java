package dev.stiefel.riemann;

import dev.stiefel.autograd.LrSchedule;
import dev.stiefel.autograd.Var;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Riemannian Adam (Bécigneul &amp; Ganea, "Riemannian adaptive optimization methods", ICLR 2019, Algorithm 1 with
 * the Stiefel manifold as one product component) in the form of geoopt's {@code RiemannianAdam}, the optimizer
 * OSTQuant (Hu et al. 2025) trains its orthogonal matrices with:
 *
 * <pre>
 *   G ← G + λX;   R = rgrad(X, G)                      (tangent vector, see Stiefel.tangent)
 *   m ← β₁m + (1 − β₁)R;   v ← β₂v + (1 − β₂)⟨R, R⟩_X   (v is one scalar per matrix)
 *   D = (m / (1 − β₁ᵏ)) / (√(v / (1 − β₂ᵏ)) + ε)
 *   (X, m) ← retraction and transport of (X, m) along −lr·D
 * </pre>
 *
 * The second moment is the squared Riemannian norm of the whole gradient, not a per-entry square: on a manifold
 * only the norm is intrinsic (the paper's adaptivity is across product components). With the CANONICAL metric
 * (geoopt's default {@code Stiefel()}) the retraction is the Cayley transform and m is carried by the same
 * orthogonal map; with EUCLIDEAN the retraction is QR and m is transported by projection onto the new tangent
 * space. Every {@code stabilizeEvery} steps X is re-projected onto the manifold and m onto its tangent space, as
 * geoopt's {@code stabilize}.
 *
 * <p>One deliberate difference: the Cayley retraction here moves exactly along the tangent step (see
 * {@link Stiefel#retractCayley}); geoopt's doubles the component in span(X), i.e. the whole step for square
 * matrices, so a geoopt learning rate for square rotations is twice the rate that takes the same steps here.
 * Because v is a single scalar, each step has Frobenius norm about lr whatever the gradient's scale: decay the
 * rate (OSTQuant uses a cosine schedule) for the iterate to settle.
 */
public final class RiemannianAdam extends StiefelOptimizer {
    private final Stiefel.Metric metric;
    private final double beta1, beta2, eps, weightDecay;
    private final ParameterState firstMoment;
    private final float[][] secondMoment; // one value per parameter

    public RiemannianAdam(List<Var> params, LrSchedule lr, Stiefel.Metric metric, double beta1, double beta2, double eps,
                          double weightDecay, int stabilizeEvery) {
        super("RiemannianAdam", params, lr, stabilizeEvery);
        if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps > 0))
            throw new IllegalArgumentException("RiemannianAdam: need 0 <= beta < 1 and eps > 0, got " + beta1 + ", " + beta2 + ", " + eps);
        this.metric = metric;
        this.beta1 = beta1; this.beta2 = beta2; this.eps = eps; this.weightDecay = weightDecay;
        this.firstMoment = new ParameterState();
        this.secondMoment = new float[params.size()][1];
    }

    /** geoopt's defaults (β = 0.9, 0.999; ε = 1e-8; no weight decay), canonical metric, stabilized every 100 steps. */
    public RiemannianAdam(List<Var> params, LrSchedule lr) {
        this(params, lr, Stiefel.Metric.CANONICAL, 0.9, 0.999, 1e-8, 0, 100);
    }

    /** For each parameter its first moment m (parameter-sized), then its second moment v (one value). */
    @Override public List<float[]> state() {
        List<float[]> moments = firstMoment.arrays(), out = new ArrayList<>();
        for (int i = 0; i < moments.size(); i++) {
            out.add(moments.get(i));
            out.add(secondMoment[i]);
        }
        return out;
    }

    @Override protected Tensor step(int i, Tensor x, Tensor g, double lr, int t) {
        if (weightDecay != 0) g = g.add(x.mul((float) weightDecay));
        Tensor r = Stiefel.tangent(x, g, metric);
        Tensor m = firstMoment.read(i).mul((float) beta1).add(r.mul((float) (1 - beta1)));
        double v = beta2 * secondMoment[i][0] + (1 - beta2) * Stiefel.squaredNorm(x, r, metric);
        secondMoment[i][0] = (float) v;
        double c1 = 1 - Math.pow(beta1, t), c2 = 1 - Math.pow(beta2, t);
        Tensor u = m.mul((float) (-lr / c1 / (Math.sqrt(v / c2) + eps)));
        Tensor y;
        if (metric == Stiefel.Metric.CANONICAL) {
            Tensor[] moved = Stiefel.retractCayley(x, u, m); // the point and m both move by the same rotation
            y = moved[0];
            m = moved[1];
        } else {
            y = Stiefel.retractQr(x, u);
            m = Stiefel.tangent(y, m, Stiefel.Metric.EUCLIDEAN);
        }
        firstMoment.write(i, m);
        return y;
    }

    @Override protected void stabilized(int i, Tensor x) {
        firstMoment.write(i, Stiefel.tangent(x, firstMoment.read(i), metric));
    }
}
