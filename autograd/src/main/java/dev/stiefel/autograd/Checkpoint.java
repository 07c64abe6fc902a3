package dev.stiefel.autograd;

import dev.stiefel.tensor.Tensor;

import java.util.List;
import java.util.function.Function;

/**
 * Activation checkpointing (Chen et al. 2016): run a block's forward without recording, keep only its
 * inputs, and recompute the forward with the tape on when the gradient arrives. A model's calibration then
 * holds one block's activations at a time instead of all of them, for one extra forward per block.
 * Parameters the block closes over receive their gradients during the recompute's backward.
 */
public final class Checkpoint {
    private Checkpoint() {}

    /**
     * Runs {@code block} on {@code inputs}, recomputing it in backward. {@code params} are the leaves the block
     * closes over: naming them keeps the checkpoint on the tape even when no input needs a gradient.
     */
    public static Var run(Function<Var[], Var> block, List<Var> params, Var... inputs) {
        Var[] constants = new Var[inputs.length];
        for (int i = 0; i < inputs.length; i++) constants[i] = Var.of(inputs[i].value());
        Tensor out;
        try (var off = Grad.off()) {
            out = block.apply(constants).value();
        }
        Var[] onTape = new Var[inputs.length + params.size()];
        System.arraycopy(inputs, 0, onTape, 0, inputs.length);
        for (int i = 0; i < params.size(); i++) onTape[inputs.length + i] = params.get(i);
        return Var.record("checkpoint", out, g -> {
            Var[] fresh = new Var[inputs.length];
            for (int i = 0; i < inputs.length; i++)
                fresh[i] = inputs[i].requiresGrad() ? Var.param(inputs[i].value()) : Var.of(inputs[i].value());
            try (var on = Grad.on()) {
                Var y = block.apply(fresh);
                if (y.requiresGrad()) y.backward(g);
            }
            // the params already received their gradients from the recompute's backward; only inputs get one here
            Tensor[] grads = new Tensor[onTape.length];
            for (int i = 0; i < inputs.length; i++) grads[i] = fresh[i].grad();
            return grads;
        }, onTape);
    }
}
