package dev.stiefel.quant.transform;

import dev.stiefel.autograd.Var;

/**
 * The part of a transform that acts on activations at run time, at one {@link Site} of every layer: what the forward
 * pass computes there is replaced by {@code apply(layer, x)}. The inverse lives in the weights (folded by the
 * transform), or in a second online step that cancels it (Q and K).
 */
public interface Online {

    Site site();

    /** The activation at the site of {@code layer} (-1 for the head), transformed along its last dim, in f32. */
    Var apply(int layer, Var x);

    /** The same on one row of {@link #rowSize()} doubles at {@code offset}, in place: for exact f64 references. */
    void apply(int layer, double[] row, int offset);

    /** Features per row: the last dim at the site. */
    int rowSize();

    /** One line for reports. */
    String describe();
}
