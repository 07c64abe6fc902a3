package dev.stiefel.quant;

import java.util.Arrays;

/**
 * The scales and zero points of one quantized [rows, cols] matrix: a table of {@code paramRows × groups} entries
 * (paramRows = 1 for a per-tensor scale, else rows) and the group of every column. Columns usually fall into groups
 * of consecutive elements ({@code groupOf[c] = c / g}); GPTQ with act-order forms groups in its own column order, so
 * the map is explicit (GPTQ's g_idx).
 *
 * <p>Zero points are integers held as floats, because the fake quantizer adds and subtracts them in f32 exactly as
 * autograd's {@code FakeQuant} does; symmetric grids have zero 0.
 */
public record QuantParams(int bits, boolean symmetric, int rows, int cols, int paramRows, int groups,
                          float[] scale, float[] zero, int[] groupOf) {

    public QuantParams {
        if (paramRows != 1 && paramRows != rows)
            throw new IllegalArgumentException("quant params: " + paramRows + " parameter rows for " + rows + " rows (expected 1 or " + rows + ")");
        if (scale.length != paramRows * groups || zero.length != paramRows * groups)
            throw new IllegalArgumentException("quant params: " + scale.length + " scales and " + zero.length + " zeros for a "
                    + paramRows + "×" + groups + " table");
        if (groupOf.length != cols) throw new IllegalArgumentException("quant params: group map of " + groupOf.length + " columns for " + cols);
        for (int c = 0; c < cols; c++)
            if (groupOf[c] < 0 || groupOf[c] >= groups)
                throw new IllegalArgumentException("quant params: column " + c + " in group " + groupOf[c] + " of " + groups);
    }

    /** Groups of {@code g} consecutive columns (the last may be shorter); g = 0 or g ≥ cols means one group. */
    public static int[] consecutiveGroups(int cols, int g) {
        int[] map = new int[cols];
        if (g > 0) for (int c = 0; c < cols; c++) map[c] = c / g;
        return map;
    }

    public int qmin() { return symmetric ? -(1 << (bits - 1)) : 0; }

    public int qmax() { return symmetric ? (1 << (bits - 1)) - 1 : (1 << bits) - 1; }

    /** Index into {@link #scale()} and {@link #zero()} of element (r, c). */
    public int index(int r, int c) { return (paramRows == 1 ? 0 : r) * groups + groupOf[c]; }

    public float scale(int r, int c) { return scale[index(r, c)]; }

    public float zero(int r, int c) { return zero[index(r, c)]; }

    @Override public boolean equals(Object o) {
        return o instanceof QuantParams p && bits == p.bits && symmetric == p.symmetric && rows == p.rows && cols == p.cols
                && paramRows == p.paramRows && groups == p.groups && Arrays.equals(scale, p.scale) && Arrays.equals(zero, p.zero)
                && Arrays.equals(groupOf, p.groupOf);
    }

    @Override public int hashCode() { return Arrays.hashCode(scale) * 31 + Arrays.hashCode(zero); }

    @Override public String toString() {
        return "QuantParams[int" + bits + (symmetric ? " sym" : " asym") + ", " + rows + "×" + cols + ", " + paramRows + "×" + groups + " scales]";
    }
}
