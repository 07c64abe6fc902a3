package dev.stiefel.autograd;

/**
 * Whether ops record themselves on the tape, per thread. Evaluation and calibration passes run inside
 * {@code try (var off = Grad.off()) { ... }} and build no graph at all.
 */
public final class Grad {
    private static final ThreadLocal<Boolean> ENABLED = ThreadLocal.withInitial(() -> true);

    private Grad() {}

    public static boolean enabled() { return ENABLED.get(); }

    /** A scope that switches recording off until it is closed (scopes nest). */
    public static Scope off() { return set(false); }

    /** A scope that switches recording back on inside a no-grad region (activation checkpointing's recompute). */
    public static Scope on() { return set(true); }

    private static Scope set(boolean value) {
        boolean previous = ENABLED.get();
        ENABLED.set(value);
        return () -> ENABLED.set(previous);
    }

    /** Restores the previous setting on close. */
    public interface Scope extends AutoCloseable {
        @Override void close();
    }
}
