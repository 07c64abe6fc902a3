package dev.stiefel.tensor.backend;

/** Element-wise ops of two broadcast tensors. */
public enum BinaryOp {
    ADD, SUB, MUL, DIV, POW, MAX, MIN;

    public String lower() { return name().toLowerCase(java.util.Locale.ROOT); }
}
