package dev.stiefel.quant;

import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;

/**
 * A quantized tensor as integers: unsigned codes c = q − qmin ∈ [0, 2^bits − 1], packed two per byte for 2..4 bits
 * (the even column in the low nibble, as QuaRot's {@code pack_i4}) and one per byte for 5..8 bits, each row starting
 * on a fresh byte; plus the f32 scales and integer zero points of {@link QuantParams}. Dequantization computes
 * ((c + qmin) − z) · s in f32, the same operations as the fake quantizer, so the two agree bit for bit.
 */
public final class PackedTensor {
    private final QuantParams params;
    private final int[] shape;
    private final byte[] codes;
    private final int rowBytes;

    private PackedTensor(QuantParams params, int[] shape, byte[] codes) {
        this.params = params;
        this.shape = shape.clone();
        this.codes = codes;
        this.rowBytes = rowBytes(params.bits(), params.cols());
    }

    static int rowBytes(int bits, int cols) { return bits <= 4 ? (cols + 1) / 2 : cols; }

    /** Quantizes x [p.rows, p.cols] (row-major) with p into codes. */
    public static PackedTensor pack(float[] x, QuantParams p, int[] shape) {
        if (Shape.numel(shape) != (long) p.rows() * p.cols())
            throw new IllegalArgumentException("pack: shape " + Shape.str(shape) + " for parameters of " + p.rows() + "×" + p.cols());
        int rows = p.rows(), cols = p.cols(), qmin = p.qmin(), qmax = p.qmax(), rb = rowBytes(p.bits(), cols);
        byte[] codes = new byte[rows * rb];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int k = p.index(r, c);
                int code = (int) Quantizer.level(x[r * cols + c], p.scale()[k], p.zero()[k], qmin, qmax) - qmin;
                put(codes, p.bits(), r * rb, c, code);
            }
        return new PackedTensor(p, shape, codes);
    }

    /** Wraps codes already on the grid (GPTQ's, found column by column): {@code codes[r * cols + c]} in [0, 2^bits − 1]. */
    public static PackedTensor ofCodes(int[] codes, QuantParams p, int[] shape) {
        int rows = p.rows(), cols = p.cols(), rb = rowBytes(p.bits(), cols), max = (1 << p.bits()) - 1;
        if (codes.length != rows * cols || Shape.numel(shape) != codes.length)
            throw new IllegalArgumentException("packed tensor: " + codes.length + " codes for " + rows + "×" + cols + " shaped " + Shape.str(shape));
        byte[] packed = new byte[rows * rb];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int code = codes[r * cols + c];
                if (code < 0 || code > max)
                    throw new IllegalArgumentException("packed tensor: code " + code + " at (" + r + ", " + c + ") is outside [0, " + max + "]");
                put(packed, p.bits(), r * rb, c, code);
            }
        return new PackedTensor(p, shape, packed);
    }

    private static void put(byte[] out, int bits, int rowStart, int c, int code) {
        if (bits <= 4) {
            int i = rowStart + c / 2;
            out[i] = (byte) ((c & 1) == 0 ? (out[i] & 0xF0) | code : (out[i] & 0x0F) | (code << 4));
        } else {
            out[rowStart + c] = (byte) code;
        }
    }

    /** The unsigned code of element (r, c). */
    public int code(int r, int c) {
        if (params.bits() <= 4) {
            int b = codes[r * rowBytes + c / 2] & 0xFF;
            return (c & 1) == 0 ? b & 0x0F : b >>> 4;
        }
        return codes[r * rowBytes + c] & 0xFF;
    }

    /** The integer level q = code + qmin of element (r, c). */
    public int level(int r, int c) { return code(r, c) + params.qmin(); }

    /** ((code + qmin) − z) · s for every element, in the original shape. */
    public Tensor dequantize() {
        int rows = params.rows(), cols = params.cols(), qmin = params.qmin();
        float[] y = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int k = params.index(r, c);
                float q = code(r, c) + qmin;
                y[r * cols + c] = (q - params.zero()[k]) * params.scale()[k];
            }
        return Tensor.wrap(y, shape);
    }

    public QuantParams params() { return params; }

    public int[] shape() { return shape.clone(); }

    public int bits() { return params.bits(); }

    /** The packed codes (a copy). */
    public byte[] codes() { return codes.clone(); }

    /** Storage a real kernel would read: the codes, an f32 scale per group and a one-byte zero point per group when asymmetric. */
    public long bytes() {
        long groups = (long) params.paramRows() * params.groups();
        return codes.length + groups * 4 + (params.symmetric() ? 0 : groups);
    }

    @Override public String toString() { return "PackedTensor[" + Shape.str(shape) + ", " + params + ", " + bytes() + " bytes]"; }
}
