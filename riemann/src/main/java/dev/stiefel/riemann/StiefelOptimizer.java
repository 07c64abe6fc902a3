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
 * <p>State is float arrays, as {@link #state()} promises, so a checkpoint can save and restore it like the Euclidean
 * optimizers' state; between steps on a device it stays there ({@link ParameterState}).
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
     * values, four transfers more). With the state on the device too ({@link ParameterState}) only scalars cross.
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

    /**
     * Parameter-sized state (a momentum, a first moment): one array per parameter, which {@link #state()} hands out and a
     * restore writes into. While steps run on a device backend the values live in a resident copy there, which steps
     * read and overwrite in place (nothing parameter-sized crosses per step); {@link #arrays()} brings the copies back
     * and makes the arrays the state again. On the CPU a step reads a view of the array and writes into it.
     */
    protected final class ParameterState {
        private final float[][] arrays = new float[params.size()][];
        private final Tensor[] copies = new Tensor[params.size()];
        private final Backend[] holders = new Backend[params.size()];

        public ParameterState() {
            for (int i = 0; i < arrays.length; i++) arrays[i] = new float[params.get(i).value().numel()];
        }

        /** Parameter {@code i}'s state as a read-only operand, shaped like the parameter. */
        public Tensor read(int i) {
            Backend backend = Backends.current();
            if (copies[i] != null && holders[i] == backend) return copies[i];
            bringBack(i); // written on another backend's device: its values first
            Tensor t = backend.resident(Tensor.wrap(arrays[i], params.get(i).shape()));
            if (t.isOnDevice()) { copies[i] = t; holders[i] = backend; }
            return t;
        }

        /** Sets parameter {@code i}'s state to {@code value} (shaped like the parameter). */
        public void write(int i, Tensor value) {
            if (copies[i] != null) copies[i].copyFrom(value);
            else System.arraycopy(value.contiguous().toFloatArray(), 0, arrays[i], 0, arrays[i].length);
        }

        /** The arrays, holding the state again: device copies come back first. */
        public List<float[]> arrays() {
            for (int i = 0; i < arrays.length; i++) bringBack(i);
            return List.of(arrays);
        }

        private void bringBack(int i) {
            if (copies[i] == null) return;
            System.arraycopy(copies[i].toFloatArray(), 0, arrays[i], 0, arrays[i].length);
            copies[i] = null;
            holders[i] = null;
        }
    }
}
