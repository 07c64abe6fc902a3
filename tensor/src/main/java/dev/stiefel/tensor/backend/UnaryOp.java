package dev.stiefel.tensor.backend;

/** Element-wise ops of one tensor; the scalar ones take their parameters p0 (and p1) from the call. */
public enum UnaryOp {
    NEG, EXP, LOG, SQRT, RSQRT, TANH, SIGMOID, SILU, ABS, SQUARE, RECIPROCAL,
    /** Round half to even. */
    ROUND,
    /** x + p0 */
    ADD_SCALAR,
    /** x · p0 */
    MUL_SCALAR,
    /** x / p0 (a true division, not a multiplication by 1/p0: quantizers depend on the exact rounding) */
    DIV_SCALAR,
    /** x ^ p0 */
    POW_SCALAR,
    /** min(max(x, p0), p1) */
    CLAMP;

    public String lower() { return name().toLowerCase(java.util.Locale.ROOT); }
}
