package dev.stiefel.riemann;

import dev.stiefel.autograd.LrSchedule;
import dev.stiefel.autograd.Optimizer;
import dev.stiefel.autograd.Var;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backend;
import dev.stiefel.tensor.backend.Backends;

import java.util.List;

/**
 * An {@link Optimizer} whose parameters are points of Stiefel manifolds: each is a {@code Var.param} over an f32
 * [n, p] matrix with n ≥ p and orthonormal columns, and every step leaves it on the manifold. Subclasses compute
 * the new point from the current point and the Euclidean gradient that {@code backward()} left on the Var.
 *
 * <p>Rounding to f32 after each step moves a point off the manifold by about one ulp; the error is preserved by
 * the orthogonal updates and adds up over thousands of steps. Every {@code stabilizeEvery} steps (0: never) each
 * parameter is therefore replaced by the nearest orthonormal matrix ({@link Stiefel#project}) and
 * {@link #stabilized} lets the subclass bring its state along, like geoopt's {@code stabilize} option.
 *
 * <p>State lives in float arrays updated in place, as {@link #state()} promises, so a checkpoint can save and
 * restore it like the Euclidean optimizers' state.
 */
public abstract class StiefelOptimizer extends Optimizer {
    /** A parameter further than this from the manifold at its first step is rejected: max |XᵀX − I|. */
    public static final double START_TOLERANCE = 1e-3;

    private final String name;
    private final int stabilizeEvery;
    private final boolean[] checked;

    protected StiefelOptimizer(String name, List<Var> params, LrSchedule lr, int stabilizeEvery) {
        super(params, lr);
        for (Var p : params) Stiefel.requireTall(name, p.value());
        if (stabilizeEvery < 0) throw new IllegalArgumentException(name + ": stabilizeEvery must be >= 0, got " + stabilizeEvery);
        this.name = name;
        this.stabilizeEvery = stabilizeEvery;
        this.checked = new boolean[params.size()];
    }

    @Override protected final void update(int index, float[] w, float[] g, double lr, int t) {
        int[] shape = params.get(index).shape();
        // on a device backend each operand goes over once for all of the step's ops (a heap operand would be uploaded by
        // every op that reads it); on the CPU x shares w, and the result is copied back below either way
        Backend backend = Backends.current();
        Tensor x = backend.resident(Tensor.wrap(w, shape));
        if (!checked[index]) {
            requireOnManifold(x);
            checked[index] = true;
        }
        Tensor next = step(index, x, backend.resident(Tensor.wrap(g, shape)), lr, t);
        if (stabilizeEvery > 0 && t % stabilizeEvery == 0) {
            next = Stiefel.project(next);
            stabilized(index, next);
        }
        System.arraycopy(next.contiguous().toFloatArray(), 0, w, 0, w.length);
    }

    /**
     * A device parameter's step where it is: the step's ops read the parameter and its gradient on the device and the
     * new point is copied into it there ({@link #update} would take both down and send them back up as operands: the same
     * values, four transfers more). State arrays are still read with {@link #operand} and written with {@link #store}.
     */
    @Override protected final boolean updateOnDevice(int index, Tensor w, Tensor g, double lr, int t) {
        if (!checked[index]) {
            requireOnManifold(w);
            checked[index] = true;
        }
        Tensor next = step(index, w, g, lr, t);
        if (stabilizeEvery > 0 && t % stabilizeEvery == 0) {
            next = Stiefel.project(next);
            stabilized(index, next);
        }
        w.copyFrom(next);
        return true;
    }

    private void requireOnManifold(Tensor x) {
        // an f32 check is plenty against a 1e-3 threshold, and costs one matmul even for 4096×4096
        double err = x.t().matmul(x).sub(Tensor.wrap(identity(x.size(1)), x.size(1), x.size(1))).abs().max().item();
        if (!(err <= START_TOLERANCE))
            throw new IllegalArgumentException(name + ": parameter " + Shape.str(x.shape()) + " is not on the Stiefel manifold:"
                    + " max |XᵀX − I| = " + err + " > " + START_TOLERANCE
                    + "; start from Stiefel.random, a normalized Hadamard matrix or Stiefel.project(x)");
    }

    private static float[] identity(int p) {
        float[] d = new float[p * p];
        for (int i = 0; i < p; i++) d[i * p + i] = 1f;
        return d;
    }

    /**
     * The new point for parameter {@code index} at {@code x} with Euclidean gradient {@code g}; {@code t} counts
     * steps from 1. {@code x} and {@code g} must not be modified; state arrays are updated in place.
     */
    protected abstract Tensor step(int index, Tensor x, Tensor g, double lr, int t);

    /** Called after parameter {@code index} was moved back onto the manifold, to re-project per-parameter state. */
    protected void stabilized(int index, Tensor x) {}

    /** One zeroed state array per parameter, the size of the parameter. */
    protected final float[][] parameterSized() {
        float[][] a = new float[params.size()][];
        for (int i = 0; i < a.length; i++) a[i] = new float[params.get(i).value().numel()];
        return a;
    }

    /**
     * The state array {@code a} as an operand shaped like parameter {@code index}, read-only: on the CPU a view of a
     * (no copy), on a device backend one upload that every op of the step reads. Write state back with {@link #store}.
     */
    protected final Tensor operand(float[] a, int index) { return Backends.current().resident(Tensor.wrap(a, params.get(index).shape())); }

    /** Copies {@code t} into the state array {@code into}. */
    protected static void store(Tensor t, float[] into) {
        System.arraycopy(t.contiguous().toFloatArray(), 0, into, 0, into.length);
    }
}
