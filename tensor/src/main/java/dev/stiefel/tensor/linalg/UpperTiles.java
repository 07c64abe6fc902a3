package dev.stiefel.tensor.linalg;

import dev.stiefel.tensor.Parallel;

/**
 * The walk over a row-major n × n matrix's upper triangle that reads or writes its mirror image too (symmetrizing,
 * transposing, checking symmetry): by {@link #TILE} × {@link #TILE} tiles on or above the diagonal, so that the
 * column-wise side of the access stays in cache, rows of tiles in parallel. Each entry (i, j) with j ≥ i (or j > i)
 * is visited once, so a body that writes only (i, j) and (j, i) gives the same result in any order.
 */
public final class UpperTiles {
    /** Tile side: 64 doubles of a row are 8 cache lines, a tile pair 64 KiB. */
    public static final int TILE = 64;

    /** The part of row i to visit: columns [from, to). */
    @FunctionalInterface
    public interface RowSpan { void run(int i, int from, int to); }

    private UpperTiles() {}

    /** Calls {@code body} for every row i and every tile's span of columns j ≥ i (j > i without the diagonal). */
    public static void forEach(int n, boolean diagonal, RowSpan body) {
        int skip = diagonal ? 0 : 1;
        Parallel.forRange((n + TILE - 1) / TILE, 1, (t0, t1) -> {
            for (int i0 = t0 * TILE; i0 < Math.min(n, t1 * TILE); i0 += TILE)
                for (int j0 = i0; j0 < n; j0 += TILE)
                    for (int i = i0, iEnd = Math.min(n, i0 + TILE), jEnd = Math.min(n, j0 + TILE); i < iEnd; i++) {
                        int from = Math.max(j0, i + skip);
                        if (from < jEnd) body.run(i, from, jEnd);
                    }
        });
    }
}
