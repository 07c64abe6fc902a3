package dev.stiefel.autograd;

import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.FloatStorage;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backend;
import dev.stiefel.tensor.backend.Backends;

import java.util.List;

/**
 * Updates parameters in place from their accumulated gradients. Parameters must be whole contiguous f32 tensors
 * (what {@link Var#param} of a fresh tensor gives), on the heap or on a device (a device backend's {@code resident}
 * copy, which every op then reads where it is instead of uploading it per use). A device parameter is updated on its
 * device where the optimizer and the backend can ({@link #updateOnDevice}: Adam, riemann's Stiefel optimizers), else it comes to the heap once per
 * step, is updated there and goes back. Each optimizer's state is plain arrays ({@link #state()}), which a device
 * update keeps on the device between steps and brings back when asked for.
 */
public abstract class Optimizer {
    protected final List<Var> params;
    private final LrSchedule schedule;
    private int step;

    protected Optimizer(List<Var> params, LrSchedule schedule) {
        for (Var p : params) {
            Tensor v = p.value();
            if (!p.requiresGrad() || !(v.storage() instanceof FloatStorage || v.isOnDevice() && v.dtype() == DType.F32)
                    || !v.isContiguous() || v.offset() != 0 || v.numel() != v.storage().size())
                throw new IllegalArgumentException("optimizer: parameter " + Shape.str(v.shape())
                        + " must be a Var.param over a whole contiguous f32 tensor (on the heap or a device)");
        }
        this.params = List.copyOf(params);
        this.schedule = schedule;
    }

    /** One update with the learning rate of the current step; parameters without a gradient are left alone. */
    public final void step() {
        double lr = schedule.at(step);
        for (int i = 0; i < params.size(); i++) {
            Var p = params.get(i);
            if (p.grad() == null) continue;
            Tensor v = p.value();
            if (v.isOnDevice()) {
                if (updateOnDevice(i, v, p.grad(), lr, step + 1)) continue;
                float[] w = v.toFloatArray();
                update(i, w, p.grad().toFloatArray(), lr, step + 1);
                v.copyFrom(Tensor.wrap(w, v.shape()));
            } else {
                update(i, data(v), p.grad().toFloatArray(), lr, step + 1);
            }
        }
        step++;
    }

    public final void zeroGrad() { for (Var p : params) p.zeroGrad(); }

    public final int steps() { return step; }

    /**
     * The optimizer's state as arrays it updates in place (momentum; Adam's first and second moments), in a fixed
     * order, allocated if no step has run yet. A checkpoint saves them with {@link #steps()}; resuming copies them
     * back into the arrays of a fresh optimizer over the same parameters and calls {@link #resumeAt(int)}.
     */
    public abstract java.util.List<float[]> state();

    /** Continues the schedule and bias corrections from step {@code step} (after restoring {@link #state()}). */
    public final void resumeAt(int step) {
        if (step < 0) throw new IllegalArgumentException("optimizer: step must be >= 0, got " + step);
        this.step = step;
    }

    public final double currentLr() { return schedule.at(step); }

    /** Updates parameter {@code index}'s values {@code w} in place; {@code t} counts steps from 1 (Adam's bias correction). */
    protected abstract void update(int index, float[] w, float[] g, double lr, int t);

    /**
     * Updates device parameter {@code index} in place where it is, with {@link #update}'s values, and returns true; false
     * (the default) brings it to the heap for {@link #update} and back, one transfer each way (and its gradient's).
     */
    protected boolean updateOnDevice(int index, Tensor w, Tensor g, double lr, int t) { return false; }

    static float[] data(Tensor t) { return ((FloatStorage) t.storage()).data(); }

    /** SGD with momentum and L2 weight decay: v = μv + (g + λw); w −= lr·v. */
    public static Optimizer sgd(List<Var> params, LrSchedule lr, double momentum, double weightDecay) {
        float[][] velocity = new float[params.size()][];
        return new Optimizer(params, lr) {
            @Override public java.util.List<float[]> state() {
                for (int i = 0; i < velocity.length; i++) if (velocity[i] == null) velocity[i] = new float[this.params.get(i).value().numel()];
                return java.util.List.of(velocity);
            }

            @Override protected void update(int i, float[] w, float[] g, double rate, int t) {
                if (velocity[i] == null) velocity[i] = new float[w.length];
                float[] v = velocity[i];
                for (int j = 0; j < w.length; j++) {
                    double d = g[j] + weightDecay * w[j];
                    v[j] = (float) (momentum * v[j] + d);
                    w[j] -= (float) (rate * v[j]);
                }
            }
        };
    }

    /** Adam (Kingma & Ba 2015, Algorithm 1) with L2 weight decay added to the gradient. */
    public static Optimizer adam(List<Var> params, LrSchedule lr, double beta1, double beta2, double eps, double weightDecay) {
        return new Adam(params, lr, beta1, beta2, eps, weightDecay, false);
    }

    /** AdamW (Loshchilov & Hutter 2019): weight decay applied to the weights directly, outside the moment estimates. */
    public static Optimizer adamW(List<Var> params, LrSchedule lr, double beta1, double beta2, double eps, double weightDecay) {
        return new Adam(params, lr, beta1, beta2, eps, weightDecay, true);
    }

    /** AdamW with PyTorch's defaults (β = 0.9, 0.999; ε = 1e-8). */
    public static Optimizer adamW(List<Var> params, LrSchedule lr, double weightDecay) {
        return adamW(params, lr, 0.9, 0.999, 1e-8, weightDecay);
    }

    private static final class Adam extends Optimizer {
        private final double beta1, beta2, eps, weightDecay;
        private final boolean decoupled;
        private final float[][] m, v;
        /** A device parameter's moments while they live on its device; {@link #state()} brings them back to m and v. */
        private final Tensor[] deviceM, deviceV;
        /** A backend that declined {@link Backend#adamStep} (no f64): its parameters are updated on the heap, moments not sent. */
        private Backend declined;

        Adam(List<Var> params, LrSchedule lr, double beta1, double beta2, double eps, double weightDecay, boolean decoupled) {
            super(params, lr);
            if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps > 0))
                throw new IllegalArgumentException("adam: need 0 <= beta < 1 and eps > 0, got " + beta1 + ", " + beta2 + ", " + eps);
            this.beta1 = beta1; this.beta2 = beta2; this.eps = eps; this.weightDecay = weightDecay; this.decoupled = decoupled;
            this.m = new float[params.size()][];
            this.v = new float[params.size()][];
            this.deviceM = new Tensor[params.size()];
            this.deviceV = new Tensor[params.size()];
        }

        @Override public java.util.List<float[]> state() {
            java.util.List<float[]> out = new java.util.ArrayList<>();
            for (int i = 0; i < m.length; i++) {
                bringBack(i); // the arrays are the state again (a restore writes into them)
                if (m[i] == null) { m[i] = new float[params.get(i).value().numel()]; v[i] = new float[m[i].length]; }
                out.add(m[i]);
                out.add(v[i]);
            }
            return out;
        }

        /** The update below on the device, where the backend has the kernel (f64, so the same bits): moments stay there. */
        @Override protected boolean updateOnDevice(int i, Tensor w, Tensor g, double lr, int t) {
            Backend backend = Backends.current();
            if (backend == declined) return false;
            int n = w.numel();
            if (m[i] == null) { m[i] = new float[n]; v[i] = new float[n]; }
            Tensor dm = deviceM[i] != null ? deviceM[i] : backend.resident(Tensor.wrap(m[i], n));
            Tensor dv = deviceV[i] != null ? deviceV[i] : backend.resident(Tensor.wrap(v[i], n));
            if (!dm.isOnDevice() || !backend.adamStep(w, g, dm, dv, beta1, 1 - beta1, beta2, 1 - beta2,
                    1 - Math.pow(beta1, t), 1 - Math.pow(beta2, t), eps, lr, weightDecay, decoupled)) {
                declined = backend; // not every step again: each try would send the moments over for nothing
                return false;
            }
            deviceM[i] = dm;
            deviceV[i] = dv;
            return true;
        }

        /** Parameter i's moments from its device into m[i] and v[i], where earlier steps left them. */
        private void bringBack(int i) {
            if (deviceM[i] == null) return;
            System.arraycopy(deviceM[i].toFloatArray(), 0, m[i], 0, m[i].length);
            System.arraycopy(deviceV[i].toFloatArray(), 0, v[i], 0, v[i].length);
            deviceM[i] = deviceV[i] = null;
        }

        @Override protected void update(int i, float[] w, float[] g, double lr, int t) {
            bringBack(i); // a device parameter updated on the heap after steps on its device (another backend current)
            if (m[i] == null) { m[i] = new float[w.length]; v[i] = new float[w.length]; }
            float[] mi = m[i], vi = v[i];
            double c1 = 1 - Math.pow(beta1, t), c2 = 1 - Math.pow(beta2, t);
            for (int j = 0; j < w.length; j++) {
                double gj = decoupled ? g[j] : g[j] + weightDecay * w[j];
                mi[j] = (float) (beta1 * mi[j] + (1 - beta1) * gj);
                vi[j] = (float) (beta2 * vi[j] + (1 - beta2) * gj * gj);
                double update = (mi[j] / c1) / (Math.sqrt(vi[j] / c2) + eps);
                double decay = decoupled ? weightDecay * w[j] : 0;
                w[j] -= (float) (lr * (update + decay));
            }
        }
    }
}
