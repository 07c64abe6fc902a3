package dev.stiefel.tensor.packed;

/**
 * Activations quantized per token to 8 bits at run time, for {@link Int8Gemm} (W8A8, W4A8): each row (token) of
 * X [rows, cols] gets a scale and, on an asymmetric grid, a zero point, found by the per-token 8-bit rule of
 * {@code quant.Quantizer} (no clipping):
 * <pre>
 *   symmetric:  s = max(−min(0, min x), max(0, max x)) / 127 (1 for an all-zero row), z = 0,  q ∈ [−128, 127]
 *   asymmetric: s = (max(0, max x) − min(0, min x)) / 255 (range [−1, 1] for an all-zero row),
 *               z = clamp(round(−min / s), 0, 255),                                          q ∈ [0, 255]
 *   s at least Float.MIN_NORMAL;  q = clamp(round(x / s) + z, qmin, qmax)   (round half to even, x / s in f32)
 * </pre>
 * so (q − z)·s is the fake-quantized activation bit for bit. Stored, as for weights, is the code c = q − qmin, moved
 * into a signed byte: {@code q[t·stride + j] = c − 128}; {@code zeros[t]} is z − qmin − 128 (0 on a symmetric grid), so
 * q − z = stored − zeros[t], which fits the int lanes of the product exactly. Rows are padded with zeros to whole
 * blocks of {@link PackedMatrix#BLOCK} columns ({@code stride}), as the weight rows are (a padded column meets a
 * weight code 0 and adds nothing).
 */
public record Int8Rows(int rows, int cols, int stride, int bits, boolean symmetric, byte[] q, float[] scales, int[] zeros) {
    public Int8Rows {
        if (bits < 2 || bits > 8) throw new IllegalArgumentException("int8 rows: levels of " + bits + " bits; 2..8 fit");
        if (stride < cols || stride % PackedMatrix.BLOCK != 0 || q.length != (long) rows * stride || scales.length != rows || zeros.length != rows)
            throw new IllegalArgumentException("int8 rows " + rows + "x" + cols + ": stride " + stride + ", " + q.length
                    + " codes, " + scales.length + " scales and " + zeros.length + " zero points");
    }

    /** Quantizes X [rows, cols], row-major from {@code x[xOff]}; a value that is not finite is refused with its row and column. */
    public static Int8Rows quantize(float[] x, int xOff, int rows, int cols, boolean symmetric) {
        if (rows < 0 || cols < 0 || xOff < 0 || xOff + (long) rows * cols > x.length)
            throw new IllegalArgumentException("int8 rows: " + rows + "x" + cols + " from offset " + xOff + " of " + x.length + " values");
        int stride = (cols + PackedMatrix.BLOCK - 1) / PackedMatrix.BLOCK * PackedMatrix.BLOCK;
        int qmin = symmetric ? -128 : 0, qmax = symmetric ? 127 : 255;
        byte[] q = new byte[rows * stride];
        float[] scales = new float[rows];
        int[] zeros = new int[rows];
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
            float s, z;
            if (symmetric) {
                double m = Math.max(-lo, hi);
                s = m == 0 ? 1f : (float) (m / qmax);
                z = 0f;
            } else {
                if (lo == 0 && hi == 0) { lo = -1; hi = 1; }
                s = Math.max((float) ((hi - lo) / qmax), Float.MIN_NORMAL);
                z = (float) Math.min(Math.max(Math.rint(-lo / s), 0), qmax);
            }
            s = Math.max(s, Float.MIN_NORMAL);
            scales[t] = s;
            zeros[t] = (int) z - qmin - 128;
            for (int j = 0; j < cols; j++) {
                float level = Math.min(Math.max((float) Math.rint(x[o + j] / s) + z, qmin), qmax);
                q[t * stride + j] = (byte) ((int) level - qmin - 128);
            }
        }
        return new Int8Rows(rows, cols, stride, 8, symmetric, q, scales, zeros);
    }

    /**
     * Rows already quantized, from their integer levels q ∈ [qmin, qmax] of a {@code bits}-bit grid (row-major,
     * {@code levels[t·cols + j]}), scales and integer zero points, as {@code quant.Quantizer} found them: the same
     * values (q − z)·s, held for the integer product. qmin is −2^(b−1) on a symmetric grid, 0 on an asymmetric one.
     */
    public static Int8Rows ofLevels(int rows, int cols, int bits, boolean symmetric, float[] levels, float[] scales, float[] zeros) {
        if (bits < 2 || bits > 8) throw new IllegalArgumentException("int8 rows: levels of " + bits + " bits; 2..8 fit");
        int qmin = symmetric ? -(1 << (bits - 1)) : 0, top = (1 << bits) - 1;
        if (levels.length != (long) rows * cols || scales.length != rows || zeros.length != rows)
            throw new IllegalArgumentException("int8 rows " + rows + "x" + cols + ": " + levels.length + " levels, " + scales.length + " scales, " + zeros.length + " zero points");
        int stride = (cols + PackedMatrix.BLOCK - 1) / PackedMatrix.BLOCK * PackedMatrix.BLOCK;
        byte[] q = new byte[rows * stride];
        int[] z = new int[rows];
        for (int t = 0; t < rows; t++) {
            if (zeros[t] != Math.rint(zeros[t]) || zeros[t] - qmin < 0 || zeros[t] - qmin > top)
                throw new IllegalArgumentException("int8 rows: zero point " + zeros[t] + " of row " + t + " is not an integer code");
            z[t] = (int) zeros[t] - qmin - 128;
            for (int j = 0; j < cols; j++) {
                float level = levels[t * cols + j];
                int c = (int) level - qmin;
                if (level != Math.rint(level) || c < 0 || c > top)
                    throw new IllegalArgumentException("int8 rows: level " + level + " at row " + t + ", column " + j + " is outside the " + bits + "-bit grid from " + qmin);
                q[t * stride + j] = (byte) (c - 128);
            }
        }
        return new Int8Rows(rows, cols, stride, bits, symmetric, q, scales.clone(), z);
    }

    /** The code c = q − qmin ∈ [0, 2^bits − 1] of row t, column j. */
    public int code(int t, int j) { return q[t * stride + j] + 128; }

    /** The zero point in code units, z − qmin, of row t. */
    public int zeroCode(int t) { return zeros[t] + 128; }

    /** The integer q − z of row t, column j. */
    public int centred(int t, int j) { return q[t * stride + j] - zeros[t]; }

    /** Row t, column j as the fake-quantized f32 value (q − z)·s. */
    public float value(int t, int j) { return centred(t, j) * scales[t]; }
}
