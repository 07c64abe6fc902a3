package dev.stiefel.quant.transform;

import java.util.List;

/**
 * An equivalence transform of a LLaMA model ("transforms are objects with an inverse"): a change of basis whose fixed
 * part is folded into the weights ({@link #fold}, in f64) and whose run-time part, if any, acts on activations at
 * hook points ({@link #online}). Folding and the online parts together leave the model's function unchanged; the
 * equivalence tests check that to 1e-8 in f64 and 1e-4 (relative) in f32 for every transform, and
 * {@link Transforms#compare} reports it for a fused model.
 */
public interface Transform {

    /** One line for reports. */
    String describe();

    /** Folds the transform into {@code w} (in place). */
    void fold(DoubleWeights w);

    /** What the forward pass applies at run time; empty when everything is fused into the weights. */
    default List<Online> online() { return List.of(); }
}
