package dev.stiefel.quant.export;

import dev.stiefel.tensor.packed.PackedMatrix;

/**
 * The codes of a fake-quantized matrix, found from its values alone: for each row and group, a scale s and integers
 * n_j with fl(n_j · s) = w_j for every element, bit for bit. Whatever chose the weights (RTN, GPTQ's column updates,
 * AWQ's or OmniQuant's clipping, FlatQuant's transforms), an element of a b-bit grid is (q − z)·s with q − z an integer
 * of at most b bits, so such an s exists; finding one and checking every element is what makes a packed file compute
 * exactly the model that was evaluated. The scale found may differ from the method's own where several represent the
 * same values (all n_j even, say); the values do not.
 *
 * <p>Search, per group: the element of largest magnitude w_m has the largest |n|; for n_m from the grid's largest
 * magnitude down, s = |w_m| / n_m and its f32 neighbours (the division rounds) are tried, n_j = round(w_j / s) for every
 * element, and the first s that reproduces every element, within the code range of the container, wins. A group
 * where none does is not on a grid of this kind (act-order groups, values changed after quantization): the caller
 * gets {@link OffGrid} naming the row, the group and an element.
 */
public final class GridFit {
    private GridFit() {}

    /** Why a matrix could not be packed; the caller stores it unpacked and says so. */
    public static final class OffGrid extends Exception {
        OffGrid(String message) { super(message); }
    }

    /**
     * The codes of a matrix on its grid: {@code codes[r·cols + j]} = q − qmin ∈ [0, 2^bits − 1], and per row and group
     * ({@code groups} per row) the scale and the integer zero point z (quant's convention: 0 on a symmetric grid), so
     * that every element is (q − z)·s.
     */
    public record Fit(int rows, int cols, int bits, int groupSize, boolean symmetric, int groups, int[] codes, float[] scales, float[] zeros) {
        public int qmin() { return symmetric ? -(1 << (bits - 1)) : 0; }
    }

    /**
     * Packs {@code w} [rows, cols] (row-major, fake-quantized with a {@code specBits}-bit grid) into codes of
     * {@code bits} (≥ specBits), groups of {@code groupSize} columns (0: per row), symmetric or asymmetric layout.
     */
    public static PackedMatrix pack(float[] w, int rows, int cols, int specBits, int bits, int groupSize, boolean symmetric, String name) throws OffGrid {
        Fit f = fit(w, rows, cols, specBits, bits, groupSize, symmetric, name);
        return PackedMatrix.ofCodes(f.codes(), rows, cols, bits, groupSize, symmetric, f.scales(), f.zeros());
    }

    /** The grid of {@code w} as {@link #pack} finds it, before the codes are packed. */
    public static Fit fit(float[] w, int rows, int cols, int specBits, int bits, int groupSize, boolean symmetric, String name) throws OffGrid {
        if (specBits > bits) throw new IllegalArgumentException("grid fit: " + specBits + "-bit values do not fit " + bits + "-bit codes");
        int g = groupSize == 0 ? Math.max(cols, 1) : groupSize, groups = cols == 0 ? 0 : (cols + g - 1) / g;
        int[] codes = new int[rows * cols];
        float[] scales = new float[rows * groups], zeros = new float[rows * groups];
        int[] n = new int[g];
        for (int r = 0; r < rows; r++)
            for (int gi = 0; gi < groups; gi++) {
                int j0 = gi * g, len = Math.min(cols, j0 + g) - j0, at = r * groups + gi;
                float s = fitGroup(w, r * cols + j0, len, specBits, bits, symmetric, n);
                if (Float.isNaN(s)) {
                    int bad = firstNonFinite(w, r * cols + j0, len);
                    throw new OffGrid(name + " row " + r + " group " + gi + ": " + (bad >= 0 ? "element " + (j0 + bad) + " is " + w[r * cols + j0 + bad]
                            : "no scale puts its " + len + " values (largest |w| " + maxAbs(w, r * cols + j0, len) + ") on a " + specBits + "-bit grid"));
                }
                int lo = 0;
                for (int j = 0; j < len; j++) lo = Math.min(lo, n[j]);
                // level q = n + z in quant's convention: symmetric z = 0; asymmetric the smallest z ≥ 0 that makes every q ≥ 0
                int z = symmetric ? 0 : -lo, qmin = symmetric ? -(1 << (bits - 1)) : 0;
                scales[at] = s;
                zeros[at] = z;
                for (int j = 0; j < len; j++) codes[r * cols + j0 + j] = n[j] + z - qmin;
            }
        return new Fit(rows, cols, bits, groupSize, symmetric, groups, codes, scales, zeros);
    }

    /**
     * The scale of one group, with its integers in {@code n} (their range fitting {@code codeBits}-bit codes); NaN
     * when none is found.
     */
    private static float fitGroup(float[] w, int off, int len, int bits, int codeBits, boolean symmetric, int[] n) {
        int m = -1;
        float top = 0;
        for (int j = 0; j < len; j++) {
            float a = Math.abs(w[off + j]);
            if (!(a < Float.POSITIVE_INFINITY)) return Float.NaN;
            if (a > top) { top = a; m = j; }
        }
        if (m < 0) { // all zero: any scale, every level at the zero point
            java.util.Arrays.fill(n, 0, len, 0);
            return 1f;
        }
        boolean negative = w[off + m] < 0;
        // the largest |n| the spec's grid allows on this side of zero
        int most = symmetric ? (negative ? 1 << (bits - 1) : (1 << (bits - 1)) - 1) : (1 << bits) - 1;
        for (int nm = most; nm >= 1; nm--) {
            float s0 = top / nm;
            for (float s : new float[]{s0, Math.nextUp(s0), Math.nextDown(s0), Math.nextUp(Math.nextUp(s0)), Math.nextDown(Math.nextDown(s0))})
                if (s > 0 && (float) nm * s == top && reproduces(w, off, len, s, n) && fits(n, len, codeBits, symmetric)) return s;
        }
        return Float.NaN;
    }

    /** Whether (float) round(w/s) · s == w for every element (the dequantization's one rounded product), filling n. */
    private static boolean reproduces(float[] w, int off, int len, float s, int[] n) {
        for (int j = 0; j < len; j++) {
            float q = (float) Math.rint(w[off + j] / s);
            if (q * s != w[off + j] || Math.abs(q) > 256) return false;
            n[j] = (int) q;
        }
        return true;
    }

    /**
     * Whether the integers fit the codes: symmetric ones in [−2^(b−1), 2^(b−1) − 1]; asymmetric ones within a span of
     * 2^b − 1 (a zero point shifts them into [0, 2^b − 1]). A scale half the method's also reproduces every value, with
     * integers twice as large, which may not fit: the search then goes on to the next candidate.
     */
    private static boolean fits(int[] n, int len, int bits, boolean symmetric) {
        int lo = 0, hi = 0;
        for (int j = 0; j < len; j++) { lo = Math.min(lo, n[j]); hi = Math.max(hi, n[j]); }
        return symmetric ? lo >= -(1 << (bits - 1)) && hi <= (1 << (bits - 1)) - 1 : hi - lo <= (1 << bits) - 1;
    }

    private static int firstNonFinite(float[] w, int off, int len) {
        for (int j = 0; j < len; j++) if (!Float.isFinite(w[off + j])) return j;
        return -1;
    }

    private static float maxAbs(float[] w, int off, int len) {
        float m = 0;
        for (int j = 0; j < len; j++) m = Math.max(m, Math.abs(w[off + j]));
        return m;
    }
}
