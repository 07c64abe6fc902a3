package dev.stiefel.riemann.hadamard;

import java.util.Map;

/**
 * Williamson's construction (J. Williamson, "Hadamard's determinant theorem and the sum of four squares", Duke
 * Math. J. 1944): four symmetric circulant ±1 matrices A, B, C, D of order m with A² + B² + C² + D² = 4mI
 * (circulants commute) give the Hadamard matrix of order 4m
 *
 * <pre>
 *   [  A   B   C   D ]
 *   [ −B   A  −D   C ]
 *   [ −C   D   A  −B ]
 *   [ −D  −C   B   A ]
 * </pre>
 *
 * The quadruples are search results, not formulas, so they are data: only the orders m ≤ 46 where Paley's
 * constructions fail are kept (4m = 92, 116, 156, 172). A symmetric circulant is fixed by the first (m + 1)/2
 * entries of its first row, which is all that is stored. Sources: m = 23, 29, 43 from the table of Williamson
 * matrices in M. Hall, "Combinatorial Theory" (2nd ed., 1986); m = 39 from S. London, "Constructing new Turyn
 * type sequences, T-sequences and Hadamard matrices" (PhD thesis, 2013); both as tabulated in SageMath's
 * {@code williamson_type_quadruples_smallcases}. The tests check A² + B² + C² + D² = 4mI and H Hᵀ = 4mI.
 */
final class Williamson {
    private Williamson() {}

    /** m → first halves of the first rows of A, B, C, D ('+' = 1, '-' = −1). */
    private static final Map<Integer, String[]> HALF_ROWS = Map.of(
            23, new String[]{"++---+---+-+", "+-++-++--+++", "+++---++-+-+", "+++-+++-+---"},
            29, new String[]{"+++---++--+-+--", "+-+---++--+-+++", "++++-++-+---+++", "++--+--+-+++-++"},
            39, new String[]{"+++--+-+-----+--++--", "+++--++-+---+-+--+--", "++++---+--++----+-+-", "+---++-+-+-----+++-+"},
            43, new String[]{"++---++++-+--+--++----", "+++-+-++--+-+-++++-+--", "++-++++++----+-+--++-+", "+---++--++++-+-+++-++-"});

    static boolean has(int m) { return HALF_ROWS.containsKey(m); }

    /** The first rows of A, B, C, D of order m, each mirrored from its stored half: a_j = a_{m−j}. */
    static int[][] firstRows(int m) {
        String[] halves = HALF_ROWS.get(m);
        if (halves == null) throw new IllegalArgumentException("Williamson: no quadruple of order " + m + " is tabulated; have " + HALF_ROWS.keySet());
        int[][] rows = new int[4][m];
        for (int r = 0; r < 4; r++) {
            String h = halves[r];
            if (h.length() != (m + 1) / 2) throw new IllegalStateException("Williamson table: row " + r + " of order " + m + " has " + h.length() + " entries");
            for (int j = 0; j < h.length(); j++) {
                int v = h.charAt(j) == '+' ? 1 : -1;
                rows[r][j] = v;
                rows[r][(m - j) % m] = v;
            }
        }
        return rows;
    }

    /** The Hadamard matrix of order 4m, row-major ±1. */
    static byte[] matrix(int m) {
        int[][] row = firstRows(m);
        // block (I, J) of the array is sign·circulant(letter), letters A..D = 0..3
        int[][] letter = {{0, 1, 2, 3}, {1, 0, 3, 2}, {2, 3, 0, 1}, {3, 2, 1, 0}};
        int[][] sign = {{1, 1, 1, 1}, {-1, 1, -1, 1}, {-1, 1, 1, -1}, {-1, -1, 1, 1}};
        int n = 4 * m;
        byte[] h = new byte[n * n];
        for (int bi = 0; bi < 4; bi++)
            for (int bj = 0; bj < 4; bj++) {
                int[] first = row[letter[bi][bj]];
                int s = sign[bi][bj];
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < m; j++) h[(bi * m + i) * n + bj * m + j] = (byte) (s * first[Math.floorMod(j - i, m)]);
            }
        return h;
    }
}
