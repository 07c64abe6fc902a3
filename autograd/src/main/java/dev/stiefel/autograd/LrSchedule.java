package dev.stiefel.autograd;

/** Learning rate as a function of the step number (0-based). */
@FunctionalInterface
public interface LrSchedule {
    double at(int step);

    static LrSchedule constant(double lr) {
        if (!(lr >= 0)) throw new IllegalArgumentException("learning rate must be >= 0, got " + lr);
        return step -> lr;
    }

    /** Cosine decay from {@code lr} at step 0 to {@code minLr} at {@code totalSteps} (Loshchilov & Hutter 2017), flat after. */
    static LrSchedule cosine(double lr, int totalSteps, double minLr) {
        if (totalSteps < 1) throw new IllegalArgumentException("cosine schedule needs totalSteps >= 1, got " + totalSteps);
        return step -> step >= totalSteps ? minLr : minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * step / totalSteps));
    }

    /** Linear warm-up from 0 over {@code warmupSteps} steps to {@code then.at(0)}, then {@code then} shifted by the warm-up. */
    static LrSchedule warmup(int warmupSteps, LrSchedule then) {
        if (warmupSteps < 0) throw new IllegalArgumentException("warm-up steps must be >= 0, got " + warmupSteps);
        return step -> step < warmupSteps ? then.at(0) * (step + 1) / warmupSteps : then.at(step - warmupSteps);
    }
}
