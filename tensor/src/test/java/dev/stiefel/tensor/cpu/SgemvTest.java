package dev.stiefel.tensor.cpu;

import static dev.stiefel.tensor.cpu.SgemmFixtures.compare;
import static dev.stiefel.tensor.cpu.SgemmFixtures.random;
import static dev.stiefel.tensor.cpu.SgemmFixtures.store;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.stiefel.tensor.cpu.SgemmFixtures.Layout;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Sgemv against an f64 reference (tolerance 1e-5·sqrt(k) relative to Σ|a||x|, see {@link SgemmFixtures#compare}). */
class SgemvTest {

    static Stream<Arguments> cases() {
        int[] sizes = {1, 7, 33, 257, 1000};
        Stream.Builder<Arguments> out = Stream.builder();
        int i = 0;
        for (Layout layout : Layout.values())
            for (int m : sizes)
                for (int k : sizes) {
                    out.add(Arguments.of(layout, m, k, i % 3 == 0, 1 + i % 2));
                    i++;
                }
        return out.build();
    }

    @ParameterizedTest(name = "A {0} {1}x{2}, accumulate {3}, threads {4}")
    @MethodSource("cases")
    void matchesReference(Layout layout, int m, int k, boolean accumulate, int threads) {
        Random r = new Random(17L * m + k + 1000L * layout.ordinal());
        float[] a = random(r, m * k), x = random(r, k);
        int xOff = 3, yOff = 5;
        float[] xs = new float[xOff + k + 2];
        Arrays.fill(xs, Float.NaN);
        System.arraycopy(x, 0, xs, xOff, k);
        float[] y = new float[yOff + m + 4];
        Arrays.fill(y, Float.NaN);
        float[] y0 = null;
        if (accumulate) {
            y0 = random(r, m);
            System.arraycopy(y0, 0, y, yOff, m);
        }
        try (Arena arena = i(m, k) % 2 == 0 ? Arena.ofConfined() : Arena.ofShared()) {
            Sgemv.gemv(store(a, m, k, layout, arena), xs, xOff, y, yOff, accumulate, threads);
        }
        // y = A·x is the m×1 product of A and the k×1 matrix x, stored at stride 1
        assertThat(compare(a, x, y0, m, 1, k, y, yOff, 1)).as(layout + " " + m + "x" + k).isNull();
        for (int i = 0; i < y.length; i++)
            if (i < yOff || i >= yOff + m) assertThat(y[i]).as("y[" + i + "] outside the result").isNaN();
    }

    private static int i(int m, int k) { return m + k; }

    @Test
    void largeMatrixFromUnalignedSegmentWithTwoThreads() {
        int m = 1200, k = 3001;
        Random r = new Random(3);
        float[] a = random(r, m * k), x = random(r, k);
        float[] y = new float[m];
        try (Arena arena = Arena.ofShared()) {
            Sgemv.gemv(store(a, m, k, Layout.NATIVE_UNALIGNED, arena), x, 0, y, 0, false, 2);
        }
        assertThat(compare(a, x, null, m, 1, k, y, 0, 1)).isNull();
    }

    @Test
    void rejectsShortVectorsNamingBothShapes() {
        var a = StridedMatrix.rowMajor(new float[15], 3, 5);
        assertThatThrownBy(() -> Sgemv.gemv(a, new float[4], 0, new float[3], 0, false, 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("3x5").hasMessageContaining("x (length 4");
        assertThatThrownBy(() -> Sgemv.gemv(a, new float[6], 2, new float[3], 0, false, 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("3x5").hasMessageContaining("offset 2");
        assertThatThrownBy(() -> Sgemv.gemv(a, new float[5], 0, new float[3], 1, false, 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("3x5").hasMessageContaining("y (length 3");
        assertThatThrownBy(() -> Sgemv.gemv(StridedMatrix.of(new float[14], 0, 3, 5, 5, 1), new float[5], 0, new float[3], 0, false, 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("3x5");
        assertThatThrownBy(() -> Sgemv.gemv(a, new float[5], 0, new float[3], 0, false, -2))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("threads");
    }
}
