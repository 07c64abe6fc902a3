package dev.stiefel.quant;

import dev.stiefel.autograd.Var;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backends;

/**
 * Learnable parameters of the calibration methods (rotations, scales, clipping factors, Kronecker factors), kept
 * where the current backend keeps tensors between ops: on a device they are uploaded once, every op of every step
 * reads them there, and the optimizers update them there ({@code autograd.Optimizer#updateOnDevice}); a heap parameter
 * would instead be uploaded by every op that reads it, and on a GPU every upload waits for the queue. On the CPU a
 * parameter is {@code init} itself, as {@link Var#param} makes it.
 */
public final class Parameters {
    private Parameters() {}

    /** A parameter starting at {@code init} (which it may share: pass a copy where init is used elsewhere). */
    public static Var of(Tensor init) { return Var.param(Backends.current().resident(init)); }
}
