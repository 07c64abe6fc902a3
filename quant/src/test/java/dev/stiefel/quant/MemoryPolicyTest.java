package dev.stiefel.quant;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class MemoryPolicyTest {

    @Test void aBoundPolicyHoldsForItsCallOnlyAndTheInnerOneWins() throws Exception {
        MemoryPolicy outer = MemoryPolicy.rules().withSpillActivationsAbove(0L).withCheckpointBlocks(true);
        MemoryPolicy inner = MemoryPolicy.rules().withCheckpointBlocks(false);
        assertThat(MemoryPolicy.current()).isEqualTo(MemoryPolicy.rules());
        MemoryPolicy seen = outer.call(() -> {
            assertThat(MemoryPolicy.current().spillActivationsAboveOr(99)).isZero();
            assertThat(MemoryPolicy.current().checkpointBlocksOr(false)).isTrue();
            assertThat(inner.call(MemoryPolicy::current)).as("the inner binding, whole: no field inherited").isEqualTo(inner);
            return MemoryPolicy.current();
        });
        assertThat(seen).isEqualTo(outer);
        assertThat(MemoryPolicy.current()).as("after the call").isEqualTo(MemoryPolicy.rules());
        assertThat(MemoryPolicy.rules().spillActivationsAboveOr(99)).isEqualTo(99);
        assertThat(MemoryPolicy.rules().checkpointWeightsOr(true)).isTrue();
    }

    /** Two runs at once on two threads (two tests, say) each see their own policy, and a thread of neither sees none. */
    @Test void concurrentRunsDoNotSeeEachOthersPolicy() throws Exception {
        CountDownLatch bothBound = new CountDownLatch(2);
        long[] seen = new long[2];
        Thread[] threads = new Thread[2];
        for (int i = 0; i < 2; i++) {
            int run = i;
            threads[i] = Thread.ofPlatform().start(() -> MemoryPolicy.rules().withFuseBlockwiseAbove(run + 1L).run(() -> {
                bothBound.countDown();
                try {
                    bothBound.await(); // both policies are bound now
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
                seen[run] = MemoryPolicy.current().fuseBlockwiseAboveOr(-1);
            }));
        }
        for (Thread t : threads) t.join(60_000);
        assertThat(seen).containsExactly(1L, 2L);
        assertThat(MemoryPolicy.current().fuseBlockwiseAboveOr(-1)).isEqualTo(-1L);
    }

    @Test void systemPropertiesSetTheProcesssPolicyAndBadValuesNameTheProperty() {
        try {
            System.setProperty("stiefel.spillActivationsAbove", "4096");
            System.setProperty("stiefel.checkpointWeights", "TRUE");
            assertThat(MemoryPolicy.current()).isEqualTo(new MemoryPolicy(4096L, null, null, true));
            System.setProperty("stiefel.checkpointBlocks", "yes");
            assertThatThrownBy(MemoryPolicy::current).hasMessageContaining("-Dstiefel.checkpointBlocks must be true or false, got 'yes'");
            System.setProperty("stiefel.checkpointBlocks", "false");
            System.setProperty("stiefel.fuseBlockwiseAbove", "-1");
            assertThatThrownBy(MemoryPolicy::current).hasMessageContaining("-Dstiefel.fuseBlockwiseAbove must be a number of bytes >= 0, got '-1'");
        } finally {
            for (String p : new String[]{"stiefel.spillActivationsAbove", "stiefel.fuseBlockwiseAbove", "stiefel.checkpointBlocks", "stiefel.checkpointWeights"})
                System.clearProperty(p);
        }
    }
}
