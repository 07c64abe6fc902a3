package dev.stiefel.llama;

import dev.stiefel.tensor.MappedStorage;
import dev.stiefel.tensor.Tensor;

/**
 * Whether a block's memory-mapped weights leave the process's resident memory once the block has run. A mapped
 * checkpoint costs no heap, but every page a pass reads stays resident: one evaluation of a 7B bf16 model makes
 * 13.5 GB resident. With release on, a pass over the blocks keeps about one block's pages (the next pass reads them
 * back from the page cache, or the file), so a run's resident memory is its heap plus a block. Off by default:
 * generation reads every block for every token, and re-reading them would cost more than it saves.
 */
public final class MappedPages {
    private static volatile boolean releaseAfterBlock;

    private MappedPages() {}

    /** Turns releasing after each block on or off, for the whole process (a run's policy, like its thread count). */
    public static void releaseAfterEachBlock(boolean on) { releaseAfterBlock = on; }

    public static boolean releasingAfterEachBlock() { return releaseAfterBlock; }

    /** Called when a pass is done with block {@code layer}: drops its mapped pages if the policy says so. */
    public static void doneWith(LlamaWeights.Layer layer) {
        if (!releaseAfterBlock) return;
        for (Tensor t : layer.all()) if (t.storage() instanceof MappedStorage m) m.releasePages();
    }
}
