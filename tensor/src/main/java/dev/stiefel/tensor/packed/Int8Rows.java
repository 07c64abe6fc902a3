package dev.stiefel.tensor.packed;

/**
 * Activations quantized per token to int8 at run time, for {@link Int8Gemm} (W8A8, W4A8): row t of X [rows, cols] is
 * {@code q[t·stride + j]·scales[t]}, with the symmetric 8-bit per-token rule of {@code quant.Quantizer} (no clipping):
 * <pre>
 *   s = max(|min(0, min x)|, max(0, max x)) / 127   (1 for an all-zero row, at least Float.MIN_NORMAL)
 *   q = clamp(round(x / s), −128, 127)               (round half to even, x / s in f32)
 * </pre>
 * so q·s is the fake-quantized activation bit for bit. Rows are padded with zeros to whole blocks of
 * {@link PackedMatrix#BLOCK} columns ({@code stride}), as the weight rows are.
 */
public record Int8Rows(int rows, int cols, int stride, byte[] q, float[] scales) {
    public Int8Rows {
        if (stride < cols || stride % PackedMatrix.BLOCK != 0 || q.length != (long) rows * stride || scales.length != rows)
            throw new IllegalArgumentException("int8 rows " + rows + "x" + cols + ": stride " + stride + ", " + q.length
                    + " codes and " + scales.length + " scales");
    }

    /** Quantizes X [rows, cols], row-major from {@code x[xOff]}; a value that is not finite is refused with its row and column. */
    public static Int8Rows quantize(float[] x, int xOff, int rows, int cols) {
        if (rows < 0 || cols < 0 || xOff < 0 || xOff + (long) rows * cols > x.length)
            throw new IllegalArgumentException("int8 rows: " + rows + "x" + cols + " from offset " + xOff + " of " + x.length + " values");
        int stride = (cols + PackedMatrix.BLOCK - 1) / PackedMatrix.BLOCK * PackedMatrix.BLOCK;
        byte[] q = new byte[rows * stride];
        float[] scales = new float[rows];
        for (int t = 0; t < rows; t++) {
            int o = xOff + t * cols;
            double lo = 0, hi = 0;
            for (int j = 0; j < cols; j++) {
                float v = x[o + j];
                if (!Float.isFinite(v))
                    throw new IllegalArgumentException("int8 rows: " + v + " at row " + t + ", column " + j + "; quantization needs finite values");
                if (v < lo) lo = v;
                if (v > hi) hi = v;
            }
            double m = Math.max(-lo, hi);
            float s = Math.max(m == 0 ? 1f : (float) (m / 127), Float.MIN_NORMAL);
            scales[t] = s;
            for (int j = 0; j < cols; j++) {
                float level = Math.min(Math.max((float) Math.rint(x[o + j] / s), -128), 127);
                q[t * stride + j] = (byte) (int) level;
            }
        }
        return new Int8Rows(rows, cols, stride, q, scales);
    }

    /** Row t, column j as the fake-quantized f32 value q·s. */
    public float value(int t, int j) { return q[t * stride + j] * scales[t]; }
}
