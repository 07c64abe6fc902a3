package dev.stiefel.riemann;

import dev.stiefel.autograd.Optimizer;
import dev.stiefel.autograd.Var;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Several optimizers stepped as one, so that a training loop can hold orthogonal matrices (a
 * {@link StiefelOptimizer}) and ordinary parameters such as scales and clipping factors (autograd's
 * {@link Optimizer#adamW} and friends) at once, each group with its own optimizer, learning rate and schedule:
 *
 * <pre>
 *   OptimizerGroup opt = OptimizerGroup.builder()
 *           .add(List.of(rotation), ps -&gt; new CayleySgd(ps, LrSchedule.constant(1.5), 0))
 *           .add(List.of(scale, clip), ps -&gt; Optimizer.adamW(ps, LrSchedule.constant(1e-3), 0))
 *           .build();
 *   opt.zeroGrad(); loss.backward(); opt.step();
 * </pre>
 *
 * Each parameter may belong to one group only; otherwise it would be updated twice per step.
 */
public final class OptimizerGroup {
    private final List<Optimizer> optimizers;
    private final List<Var> params;
    private int steps;

    private OptimizerGroup(List<Optimizer> optimizers, List<Var> params) {
        this.optimizers = List.copyOf(optimizers);
        this.params = List.copyOf(params);
    }

    public static Builder builder() { return new Builder(); }

    /** Collects (parameters, optimizer factory) pairs and checks that no parameter is in two groups. */
    public static final class Builder {
        private final List<Optimizer> optimizers = new ArrayList<>();
        private final List<Var> params = new ArrayList<>();
        private final Map<Var, Integer> group = new IdentityHashMap<>();

        private Builder() {}

        /** A group: {@code params} updated by the optimizer {@code factory} builds over them. */
        public Builder add(List<Var> groupParams, Function<List<Var>, ? extends Optimizer> factory) {
            int index = optimizers.size();
            for (Var p : groupParams) {
                Integer before = group.put(p, index);
                if (before != null)
                    throw new IllegalArgumentException("OptimizerGroup: parameter " + p + " is in groups " + before + " and " + index
                            + "; it would be updated twice per step");
            }
            optimizers.add(factory.apply(List.copyOf(groupParams)));
            params.addAll(groupParams);
            return this;
        }

        public OptimizerGroup build() {
            if (optimizers.isEmpty()) throw new IllegalStateException("OptimizerGroup: no groups were added");
            return new OptimizerGroup(optimizers, params);
        }
    }

    /** One step of every group's optimizer, in the order they were added. */
    public void step() {
        for (Optimizer o : optimizers) o.step();
        steps++;
    }

    public void zeroGrad() {
        for (Optimizer o : optimizers) o.zeroGrad();
    }

    public int steps() { return steps; }

    /** The groups' optimizers, in the order they were added. */
    public List<Optimizer> optimizers() { return optimizers; }

    /** Every parameter of every group, in order. */
    public List<Var> params() { return params; }
}
