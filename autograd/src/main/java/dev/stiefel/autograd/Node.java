package dev.stiefel.autograd;

import dev.stiefel.tensor.Tensor;

/**
 * The record of one op on the tape: its inputs and the rule that turns the gradient of its output into the
 * gradients of its inputs. The rule closes over whatever tensors the forward pass saved; {@link #release()}
 * drops it once it has run, so those tensors can be collected while the rest of the backward pass goes on.
 */
final class Node {
    /** Gradient of each input (null where an input needs none) from the gradient of the output. */
    @FunctionalInterface
    interface Rule { Tensor[] apply(Tensor gradOut); }

    final String op;
    private Var[] inputs;
    private Rule rule;

    Node(String op, Var[] inputs, Rule rule) {
        this.op = op;
        this.inputs = inputs;
        this.rule = rule;
    }

    Var[] inputs() {
        if (inputs == null) throw freed();
        return inputs;
    }

    Tensor[] backward(Tensor gradOut) {
        if (rule == null) throw freed();
        return rule.apply(gradOut);
    }

    /** Drops the saved tensors and the links to the inputs, so both can be collected. */
    void release() {
        rule = null;
        inputs = null;
    }

    private IllegalStateException freed() {
        return new IllegalStateException("backward through '" + op + "' a second time: its saved tensors were freed after the "
                + "first backward; run the forward pass again");
    }
}
