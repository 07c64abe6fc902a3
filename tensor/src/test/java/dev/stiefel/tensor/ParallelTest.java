package dev.stiefel.tensor;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

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

    /** Chunk 0 waits until another thread has started chunk 1: true only when a second thread takes chunks while the caller is busy. */
    private static boolean secondThreadTakesAChunk() {
        CountDownLatch second = new CountDownLatch(1);
        AtomicReference<Boolean> met = new AtomicReference<>(false);
        Parallel.forRange(2, 2, 1, (from, to) -> {
            if (from == 0) {
                try {
                    met.set(second.await(10, TimeUnit.SECONDS));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            } else second.countDown();
        });
        return met.get();
    }

    @Test
    void anotherThreadTakesChunksWhileTheCallerWorksAndStillDoesAfterAFailure() {
        assumeTrue(Parallel.threads() > 1, "one thread: every loop runs on the caller");
        assertThat(secondThreadTakesAChunk()).isTrue();
        // a chunk that throws on a helper thread reaches the caller and leaves the helpers working
        for (int i = 0; i < 50; i++)
            assertThatThrownBy(() -> Parallel.forRange(2, 2, 1, (from, to) -> { throw new IllegalArgumentException("chunk " + from); }))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("chunk ");
        assertThat(secondThreadTakesAChunk()).isTrue();
        assertThatThrownBy(() -> Parallel.forRange(2, 2, 1, (from, to) -> { throw new AssertionError("error in chunk " + from); }))
                .isInstanceOf(AssertionError.class);
        assertThat(secondThreadTakesAChunk()).isTrue();
    }

    @Test
    void loopsFromSeveralCallersAtOnceEachRunEveryIndexOnce() throws InterruptedException {
        int callers = 4, loops = 300, n = 97;
        List<Thread> threads = new ArrayList<>();
        List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        for (int c = 0; c < callers; c++)
            threads.add(Thread.ofPlatform().start(() -> {
                try {
                    for (int l = 0; l < loops; l++) {
                        AtomicIntegerArray hits = new AtomicIntegerArray(n);
                        Parallel.forRange(n, 4, 1, (from, to) -> { for (int i = from; i < to; i++) hits.incrementAndGet(i); });
                        for (int i = 0; i < n; i++) assertThat(hits.get(i)).isEqualTo(1);
                    }
                } catch (Throwable t) {
                    failures.add(t);
                }
            }));
        for (Thread t : threads) t.join();
        assertThat(failures).isEmpty();
    }

    @Test
    void noThreadKeepsALoopsBodyOnceTheLoopHasReturned() throws InterruptedException {
        assumeTrue(Parallel.threads() > 1, "one thread: no helper could keep it");
        float[][] big = {new float[1 << 20]};
        java.lang.ref.WeakReference<float[]> ref = new java.lang.ref.WeakReference<>(big[0]);
        for (int i = 0; i < 20; i++) { // a helper takes a chunk of some of these loops (a body holds what it captures)
            float[] captured = big[0];
            Parallel.forRange(1 << 16, 2, 1, (from, to) -> { for (int k = from; k < to; k++) captured[k] += 1; });
        }
        big[0] = null;
        for (int i = 0; i < 20 && ref.get() != null; i++) {
            System.gc();
            Thread.sleep(10);
        }
        assertThat(ref.get()).as("the array captured by the loops' bodies, after the loops returned").isNull();
    }

    @Test
    void whenSeveralChunksFailTheLowestChunksFailureIsThrownWhoeverFailedFirst() {
        assumeTrue(Parallel.threads() > 1, "one thread: one chunk");
        for (int i = 0; i < 300; i++) {
            int slow = i % 2; // let either chunk fail first
            Throwable t = org.assertj.core.api.Assertions.catchThrowable(() -> Parallel.forRange(2, 2, 1, (from, to) -> {
                if (from == slow) {
                    long until = System.nanoTime() + 20_000;
                    while (System.nanoTime() < until) Thread.onSpinWait();
                }
                throw new IllegalStateException("chunk " + from);
            }));
            assertThat(t).hasMessage("chunk 0");
            assertThat(t.getSuppressed()).extracting(Throwable::getMessage).containsExactly("chunk 1");
        }
    }
}
