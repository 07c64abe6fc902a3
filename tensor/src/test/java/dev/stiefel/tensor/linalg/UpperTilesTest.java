package dev.stiefel.tensor.linalg;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.assertj.core.api.Assertions.assertThat;

class UpperTilesTest {
    @Test
    void visitsEveryEntryOnOrAboveTheDiagonalOnce() {
        for (int n : new int[]{0, 1, 7, 63, 64, 65, 200})
            for (boolean diagonal : new boolean[]{true, false}) {
                AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(1, n * n));
                UpperTiles.forEach(n, diagonal, (i, from, to) -> {
                    assertThat(from).isLessThan(to);
                    for (int j = from; j < to; j++) hits.incrementAndGet(i * n + j);
                });
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++)
                        assertThat(hits.get(i * n + j)).as("n=%d diagonal=%b (%d, %d)", n, diagonal, i, j)
                                .isEqualTo(j > i || (diagonal && j == i) ? 1 : 0);
            }
    }
}
