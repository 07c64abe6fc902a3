package dev.stiefel.tensor;

import dev.stiefel.tensor.packed.Int8Rows;

/**
 * Activations [rows, cols] quantized per token to at most 8 bits, held as their integer levels ({@link Int8Rows}),
 * read-only. The packed runtime's activation quantizer returns one, so the next product x·Wᵀ with a packed weight runs
 * as integer dot products ({@code Int8Gemm}: W8A8, W4A8, W4A4). Any other reader gets the fake-quantized values
 * (q − z)·s through {@link #getFloat}, bit for bit what the quantizer's f32 path gives.
 */
public record Int8Storage(Int8Rows rows) implements Storage {

    /** The activations as a [rows, cols] tensor over their levels. */
    public static Tensor tensor(Int8Rows r) { return Tensor.of(new Int8Storage(r), r.rows(), r.cols()); }

    @Override public DType dtype() { return DType.F32; }

    @Override public long size() { return (long) rows.rows() * rows.cols(); }

    @Override public float getFloat(long i) { return rows.value((int) (i / rows.cols()), (int) (i % rows.cols())); }

    @Override public void setFloat(long i, float v) { throw new UnsupportedOperationException("quantized activations are read-only"); }

    @Override public boolean isReadOnly() { return true; }
}
