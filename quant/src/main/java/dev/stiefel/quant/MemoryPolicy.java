package dev.stiefel.quant;

/**
 * How a run trades memory for time, where it has a choice that does not change its results (or changes them only in
 * the order gradient terms are summed): whether the calibration activations spill to files, whether transforms fold one
 * block at a time through scratch files, whether learning recomputes each block, or each block's weight quantization,
 * in backward. Each choice is a rule on the largest heap unless forced; null leaves it to the rule.
 *
 * <p>The policy in force is the one bound around the running code ({@link #run}, {@link #call}: a {@link ScopedValue},
 * so it holds for that call and what it calls on the same thread, and for nothing else running at the same time), else
 * the process's, from the system properties {@code stiefel.spillActivationsAbove}, {@code stiefel.fuseBlockwiseAbove}
 * (bytes), {@code stiefel.checkpointBlocks} and {@code stiefel.checkpointWeights} ({@code true} or {@code false}).
 *
 * @param spillActivationsAbove the bytes of calibration activations a block-wise run holds in memory at most
 * @param fuseBlockwiseAbove    the bytes of an f64 copy of the model above which transforms fold block by block
 * @param checkpointBlocks      whether end-to-end learning (OSTQuant, SpinQuant) recomputes each block in backward
 * @param checkpointWeights     whether block-wise learning (OmniQuant) recomputes a block's weight quantization in backward
 */
public record MemoryPolicy(Long spillActivationsAbove, Long fuseBlockwiseAbove, Boolean checkpointBlocks, Boolean checkpointWeights) {
    private static final ScopedValue<MemoryPolicy> BOUND = ScopedValue.newInstance();

    /** Every choice left to its rule. */
    public static MemoryPolicy rules() { return new MemoryPolicy(null, null, null, null); }

    /** The policy in force: bound around the running code, else the process's system properties. */
    public static MemoryPolicy current() { return BOUND.isBound() ? BOUND.get() : fromSystemProperties(); }

    static MemoryPolicy fromSystemProperties() {
        return new MemoryPolicy(bytes("stiefel.spillActivationsAbove"), bytes("stiefel.fuseBlockwiseAbove"),
                flag("stiefel.checkpointBlocks"), flag("stiefel.checkpointWeights"));
    }

    /** Runs {@code work} with this policy in force. */
    public void run(Runnable work) { ScopedValue.where(BOUND, this).run(work); }

    /** Calls {@code work} with this policy in force; what it throws passes through. */
    public <T, X extends Throwable> T call(ScopedValue.CallableOp<T, X> work) throws X { return ScopedValue.where(BOUND, this).call(work); }

    public MemoryPolicy withSpillActivationsAbove(Long bytes) { return new MemoryPolicy(bytes, fuseBlockwiseAbove, checkpointBlocks, checkpointWeights); }

    public MemoryPolicy withFuseBlockwiseAbove(Long bytes) { return new MemoryPolicy(spillActivationsAbove, bytes, checkpointBlocks, checkpointWeights); }

    public MemoryPolicy withCheckpointBlocks(Boolean on) { return new MemoryPolicy(spillActivationsAbove, fuseBlockwiseAbove, on, checkpointWeights); }

    public MemoryPolicy withCheckpointWeights(Boolean on) { return new MemoryPolicy(spillActivationsAbove, fuseBlockwiseAbove, checkpointBlocks, on); }

    // each choice as forced, else as its rule (given by the code that makes the choice) says

    public long spillActivationsAboveOr(long rule) { return spillActivationsAbove != null ? spillActivationsAbove : rule; }

    public long fuseBlockwiseAboveOr(long rule) { return fuseBlockwiseAbove != null ? fuseBlockwiseAbove : rule; }

    public boolean checkpointBlocksOr(boolean rule) { return checkpointBlocks != null ? checkpointBlocks : rule; }

    public boolean checkpointWeightsOr(boolean rule) { return checkpointWeights != null ? checkpointWeights : rule; }

    private static Long bytes(String property) {
        String v = System.getProperty(property);
        if (v == null || v.isBlank()) return null;
        try {
            long b = Long.parseLong(v.trim());
            if (b < 0) throw new NumberFormatException();
            return b;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("-D" + property + " must be a number of bytes >= 0, got '" + v + "'");
        }
    }

    private static Boolean flag(String property) {
        String v = System.getProperty(property);
        if (v == null || v.isBlank()) return null;
        if (v.trim().equalsIgnoreCase("true")) return true;
        if (v.trim().equalsIgnoreCase("false")) return false;
        throw new IllegalArgumentException("-D" + property + " must be true or false, got '" + v + "'");
    }
}
