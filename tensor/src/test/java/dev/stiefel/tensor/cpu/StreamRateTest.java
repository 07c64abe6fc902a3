package dev.stiefel.tensor.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

class StreamRateTest {
    /** Every element is read once per pass, across tasks of unequal length and a tail of single vectors. */
    @Test void readsEveryElementOnce() {
        int lanes = FloatVector.SPECIES_PREFERRED.length();
        for (int threads : new int[]{1, 3}) {
            long n = 3L * (1 << 20) + 5L * lanes; // three whole tasks, and a fourth of five vectors
            StreamRate.Result r = StreamRate.measure(n * Float.BYTES + 3, threads, 2); // 3 stray bytes: dropped
            assertThat(r.sum()).as("%d threads", threads).isEqualTo((double) n);
            assertThat(r.gigabytesPerSecond()).isPositive().isFinite();
        }
    }

    @Test void badArgumentsAreRefused() {
        assertThatThrownBy(() -> StreamRate.measure(4, 1, 1)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("bytes");
        assertThatThrownBy(() -> StreamRate.measure(1 << 20, 0, 1)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("threads");
        assertThatThrownBy(() -> StreamRate.measure(1 << 20, 1, 0)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("passes");
    }
}
