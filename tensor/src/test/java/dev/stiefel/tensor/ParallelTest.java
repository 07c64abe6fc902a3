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
}
