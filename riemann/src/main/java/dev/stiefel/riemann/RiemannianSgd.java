package dev.stiefel.riemann;

import dev.stiefel.autograd.LrSchedule;
import dev.stiefel.autograd.Var;
import dev.stiefel.tensor.Tensor;

import java.util.List;

/**
 * Plain Riemannian SGD on the Stiefel manifold with the embedded (Euclidean) metric, as geoopt's
 * {@code RiemannianSGD} on {@code EuclideanStiefel}: the Euclidean gradient is projected onto the tangent space
 * (Absil et al. 2008, eq. 3.37), the step is retracted onto the manifold by QR or polar decomposition, and the
 * momentum buffer is transported to the new point by projecting it onto the new tangent space (a vector
 * transport, Absil et al. §8.1.3):
 *
 * <pre>
 *   R = P_X(G + λX);   b ← μb + (1 − dampening)R;   D = nesterov ? R + μb : b
 *   X ← retract(X, −lr·D);   b ← P_X(b)
 * </pre>
 *
 * One difference from geoopt: the buffer starts at zero (PyTorch's SGD starts it at the first gradient, geoopt at
 * the first Euclidean gradient before projection; both make the first step (1 + μ)× larger).
 */
public final class RiemannianSgd extends StiefelOptimizer {
    /** How a step along a tangent vector is brought back onto the manifold. */
    public enum Retraction { QR, POLAR }

    private final Retraction retraction;
    private final double momentum, dampening, weightDecay;
    private final boolean nesterov;
    private final ParameterState buffer;

    public RiemannianSgd(List<Var> params, LrSchedule lr, Retraction retraction, double momentum, double dampening,
                         boolean nesterov, double weightDecay, int stabilizeEvery) {
        super("RiemannianSgd", params, lr, stabilizeEvery);
        if (!(momentum >= 0 && momentum < 1)) throw new IllegalArgumentException("RiemannianSgd: momentum must be in [0, 1), got " + momentum);
        if (!(dampening >= 0 && dampening <= 1)) throw new IllegalArgumentException("RiemannianSgd: dampening must be in [0, 1], got " + dampening);
        if (nesterov && (momentum == 0 || dampening != 0))
            throw new IllegalArgumentException("RiemannianSgd: Nesterov momentum needs momentum > 0 and no dampening");
        this.retraction = retraction;
        this.momentum = momentum; this.dampening = dampening; this.nesterov = nesterov; this.weightDecay = weightDecay;
        this.buffer = new ParameterState();
    }

    /** No dampening, Nesterov or weight decay; stabilized every 100 steps. */
    public RiemannianSgd(List<Var> params, LrSchedule lr, Retraction retraction, double momentum) {
        this(params, lr, retraction, momentum, 0, false, 0, 100);
    }

    /** The momentum buffers, one per parameter (unused, all zero, without momentum). */
    @Override public List<float[]> state() { return buffer.arrays(); }

    @Override protected Tensor step(int i, Tensor x, Tensor g, double lr, int t) {
        if (weightDecay != 0) g = g.add(x.mul((float) weightDecay));
        Tensor d = Stiefel.tangent(x, g, Stiefel.Metric.EUCLIDEAN);
        Tensor b = null;
        if (momentum > 0) {
            b = buffer.read(i).mul((float) momentum).add(d.mul((float) (1 - dampening)));
            d = nesterov ? d.add(b.mul((float) momentum)) : b;
        }
        Tensor u = d.mul((float) -lr);
        Tensor y = retraction == Retraction.QR ? Stiefel.retractQr(x, u) : Stiefel.retractPolar(x, u);
        if (b != null) buffer.write(i, Stiefel.tangent(y, b, Stiefel.Metric.EUCLIDEAN)); // transport to y
        return y;
    }

    @Override protected void stabilized(int i, Tensor x) {
        if (momentum > 0) buffer.write(i, Stiefel.tangent(x, buffer.read(i), Stiefel.Metric.EUCLIDEAN));
    }
}
