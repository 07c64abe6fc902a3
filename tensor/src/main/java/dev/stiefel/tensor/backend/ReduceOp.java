package dev.stiefel.tensor.backend;

/** Reductions over one axis. Sums accumulate in f64. VAR is the population variance (divides by n). */
public enum ReduceOp {
    SUM, MEAN, MAX, MIN, ARGMAX, ARGMIN, VAR, LOGSUMEXP;

    public String lower() { return name().toLowerCase(java.util.Locale.ROOT); }
}
