package dev.stiefel.tensor;

import dev.stiefel.tensor.packed.PackedMatrix;

/**
 * A weight matrix W [rows, cols] held as its low-bit codes ({@link PackedMatrix}), read-only. The packed model runtime
 * puts one under each quantized linear layer, so the forward pass is the ordinary one: its product x·Wᵀ reaches
 * the CPU backend's matmul with this storage as the B operand and runs on the packed kernels (gemv for decode, the
 * packed panels of {@code Sgemm} for prefill) without an f32 copy of W. Any other use reads elements one at a time
 * through {@link #getFloat}, which dequantizes (c − z)·s exactly as the kernels do, so a weight that some code does
 * widen (a test, {@code toFloatArray}) is the fake-quantized matrix bit for bit.
 *
 * <p>Its dtype reads F32: what an element is, not how it is stored.
 */
public record PackedStorage(PackedMatrix matrix) implements Storage {

    /** W as a [rows, cols] tensor over its codes. */
    public static Tensor tensor(PackedMatrix w) { return Tensor.of(new PackedStorage(w), w.rows(), w.cols()); }

    @Override public DType dtype() { return DType.F32; }

    @Override public long size() { return (long) matrix.rows() * matrix.cols(); }

    @Override public float getFloat(long i) { return matrix.value((int) (i / matrix.cols()), (int) (i % matrix.cols())); }

    @Override public void setFloat(long i, float v) { throw new UnsupportedOperationException("a packed weight is read-only"); }

    @Override public boolean isReadOnly() { return true; }
}
