package dev.stiefel.tensor;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ParallelTest {
    @Test
    void everyIndexRunsExactlyOnceWhateverTheSplit() {
        for (int n : new int[]{0, 1, 7, 33, 257, 10_007})
            for (int threads : new int[]{1, 2, 3, 64})
                for (int grain : new int[]{1, 5, 1000}) {
                    AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(n, 1));
                    Parallel.forRange(n, threads, grain, (from, to) -> {
                        assertThat(from).isLessThan(to);
                        for (int i = from; i < to; i++) hits.incrementAndGet(i);
                    });
                    for (int i = 0; i < n; i++) assertThat(hits.get(i)).as("n=%d threads=%d grain=%d i=%d", n, threads, grain, i).isEqualTo(1);
                }
    }

    @Test
    void anExceptionInAnyChunkReachesTheCaller() {
        for (int bad : new int[]{0, 5_000, 9_999})
            assertThatThrownBy(() -> Parallel.forRange(10_000, 2, 1, (from, to) -> {
                if (from <= bad && bad < to) throw new IllegalStateException("chunk with " + bad);
            })).isInstanceOf(IllegalStateException.class).hasMessageContaining("chunk with " + bad);
    }

    @Test
    void nestedLoopsComplete() {
        AtomicIntegerArray hits = new AtomicIntegerArray(64 * 64);
        Parallel.forRange(64, 1, (a, b) -> {
            for (int i = a; i < b; i++) {
                final int row = i;
                Parallel.forRange(64, 1, (c, d) -> { for (int j = c; j < d; j++) hits.incrementAndGet(row * 64 + j); });
            }
        });
        for (int i = 0; i < 64 * 64; i++) assertThat(hits.get(i)).isEqualTo(1);
    }

    /** forRows splits into up to four chunks per thread and still runs every row once; one thread runs it inline. */
    @Test
    void rowsRunExactlyOnceInFinerChunks() {
        for (int n : new int[]{0, 1, 7, 33, 257, 10_007})
            for (int threads : new int[]{1, 2, 3, 64})
                for (int grain : new int[]{1, 4, 100}) {
                    AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(n, 1));
                    java.util.Set<Long> ranges = java.util.concurrent.ConcurrentHashMap.newKeySet();
                    Parallel.forRows(n, threads, grain, (from, to) -> {
                        ranges.add(((long) from << 32) | to);
                        for (int i = from; i < to; i++) hits.incrementAndGet(i);
                    });
                    for (int i = 0; i < n; i++) assertThat(hits.get(i)).as("n=%d threads=%d grain=%d i=%d", n, threads, grain, i).isEqualTo(1);
                    int useful = Math.min(threads, Parallel.threads());
                    int expected = n == 0 ? 0 : useful == 1 ? 1 : Math.max(1, Math.min(4 * useful, (n + grain - 1) / grain));
                    assertThat(ranges).as("n=%d threads=%d grain=%d", n, threads, grain).hasSize(expected);
                }
    }
}
