package dev.stiefel.tensor.backend;

/** Element-wise ops of two broadcast tensors. The comparisons give 1 where they hold and 0 elsewhere (0 with NaN). */
public enum BinaryOp {
    ADD, SUB, MUL, DIV, POW, MAX, MIN, GT, GE, LT, LE, EQ;

    public String lower() { return name().toLowerCase(java.util.Locale.ROOT); }
}
