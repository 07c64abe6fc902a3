package dev.stiefel.quant.transform;

import dev.stiefel.autograd.Grad;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/** Runs a pipeline of transforms and measures how far the result is from the model it came from. */
public final class Transforms {
    private Transforms() {}

    /**
     * A model with transforms fused: the exact f64 weights, their f32 rounding, and the online parts in pipeline order.
     *
     * @param exact   the fused weights in f64 (for exact checks)
     * @param weights the same rounded to f32, what the forward pass uses
     * @param online  every online part, in the order the transforms were given
     * @param steps   each transform's one-line description
     */
    public record Fused(DoubleWeights exact, LlamaWeights weights, List<Online> online, List<String> steps) {
        public Fused {
            online = List.copyOf(online);
            steps = List.copyOf(steps);
        }

        /** The online parts as hooks (identity hooks when there are none). */
        public Hooks hooks() { return OnlineHooks.of(online); }

        /** The fused model, full precision. */
        public LlamaModel model() { return new LlamaModel(weights, hooks()); }
    }

    /** Folds {@code transforms} in order into an f64 copy of {@code fp} ({@code fp} is not changed). */
    public static Fused fuse(LlamaWeights fp, List<? extends Transform> transforms) {
        return fuse(DoubleWeights.of(fp), transforms);
    }

    /** Folds {@code transforms} in order into {@code w} itself. */
    public static Fused fuse(DoubleWeights w, List<? extends Transform> transforms) {
        List<Online> online = new ArrayList<>();
        List<String> steps = new ArrayList<>();
        for (Transform t : transforms) {
            t.fold(w);
            online.addAll(t.online());
            steps.add(t.describe());
        }
        return new Fused(w, w.toWeights(), online, steps);
    }

    /**
     * How far two models' logits are apart: max |y_fused − y_ref| over every position and vocabulary entry, and
     * max |y_ref| to put it in scale.
     */
    public record Difference(double maxAbs, double maxReference) {
        /** maxAbs / maxReference. */
        public double relative() { return maxReference == 0 ? (maxAbs == 0 ? 0 : Double.POSITIVE_INFINITY) : maxAbs / maxReference; }

        @Override public String toString() { return String.format(java.util.Locale.ROOT, "max |Δlogit| %.3g (relative %.3g)", maxAbs, relative()); }
    }

    /** Runs both models on each id sequence ([B, T]) without a tape and compares their logits. */
    public static Difference compare(LlamaModel reference, LlamaModel fused, List<Tensor> ids) {
        double maxAbs = 0, maxRef = 0;
        try (var _ = Grad.off()) {
            for (Tensor t : ids) {
                Tensor a = reference.forward(t, null).value(), b = fused.forward(t, null).value();
                maxAbs = Math.max(maxAbs, a.maxAbsDiff(b));
                for (float v : a.toFloatArray()) maxRef = Math.max(maxRef, Math.abs(v));
            }
        }
        return new Difference(maxAbs, maxRef);
    }
}
