package dev.stiefel.opencl;

import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.DeviceStorage;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.packed.PackedMatrix;

/**
 * A packed low-bit weight ({@link PackedMatrix}) resident on one OpenCL device as it is stored: its codes, scales
 * and zero points in three buffers (kernels/packed.cl), so a 4-bit g128 model takes 0.135 of its f32 size there. It
 * reads as the f32 matrix of its values (c − z)·s: the backend's products run on the codes ({@code packed_gemv}), and
 * any other use widens it on the device first ({@code packed_dequant}). Read-only.
 */
final class ClPackedStorage implements DeviceStorage {
    private final OpenClBackend backend;
    private final int rows, cols, bits, groupSize;
    private final boolean symmetric;
    /** The geometry as packed.cl's int8: rows, cols, bits, blocks per group, groups, bytes per row, symmetric. */
    private final int[] layout;
    private final BufferPool.Handle codes, scales, zeros;

    ClPackedStorage(OpenClBackend backend, PackedMatrix w, BufferPool.Handle codes, BufferPool.Handle scales, BufferPool.Handle zeros) {
        this.backend = backend;
        this.rows = w.rows();
        this.cols = w.cols();
        this.bits = w.bits();
        this.groupSize = w.groupSize();
        this.symmetric = w.symmetric();
        this.layout = new int[]{rows, cols, bits, w.groupBlocks(), w.groups(), w.rowBytes(), symmetric ? 1 : 0, 0};
        this.codes = codes;
        this.scales = scales;
        this.zeros = zeros;
    }

    OpenClBackend backend() { return backend; }

    int rows() { return rows; }

    int cols() { return cols; }

    int[] layout() { return layout; }

    BufferPool.Handle codes() { return codes; }

    BufferPool.Handle scales() { return scales; }

    /** The zero points; for a symmetric grid (none stored) the codes' buffer, which the kernels never read as such. */
    BufferPool.Handle zeros() { return zeros == null ? codes : zeros; }

    @Override public DType dtype() { return DType.F32; }

    @Override public long size() { return (long) rows * cols; }

    @Override public boolean isReadOnly() { return true; }

    /** One element, through a widened copy of the whole matrix (one download): for {@code item()} and tests, not loops. */
    @Override public float getFloat(long i) {
        Tensor all = toHost(Tensor.of(this, rows, cols));
        return all.toFloatArray()[(int) i];
    }

    @Override public void setFloat(long i, float v) { throw new UnsupportedOperationException("a packed weight is read-only"); }

    @Override public Tensor toHost(Tensor view) { return backend.widenedToHost(view); }

    @Override public Tensor contiguousOnDevice(Tensor view) { return backend.widenedContiguous(view); }

    @Override public String toString() {
        return "ClPackedStorage[int" + bits + (groupSize == 0 ? " per row" : " g" + groupSize) + (symmetric ? " symmetric" : "") + ", " + rows + " × " + cols + "]";
    }
}
