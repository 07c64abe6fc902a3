package dev.stiefel.tensor.cpu;

import java.lang.foreign.MemorySegment;

/**
 * A read-only 2-D view over f32 values for the matrix kernels: element (i, j) sits at element index
 * {@code offset + i * rowStride + j * colStride} of either a heap array or a little-endian memory segment
 * (memory-mapped weights). Transposition is a swap of the two strides, so the kernels never need a copy.
 */
public record StridedMatrix(float[] array, MemorySegment segment, long offset, int rows, int cols,
                            long rowStride, long colStride) {
    public StridedMatrix {
        if ((array == null) == (segment == null))
            throw new IllegalArgumentException("exactly one of array and segment must be given");
        if (rows < 0 || cols < 0) throw new IllegalArgumentException("negative size " + rows + "x" + cols);
    }

    public static StridedMatrix of(float[] a, long offset, int rows, int cols, long rowStride, long colStride) {
        return new StridedMatrix(a, null, offset, rows, cols, rowStride, colStride);
    }

    public static StridedMatrix of(MemorySegment s, long offset, int rows, int cols, long rowStride, long colStride) {
        return new StridedMatrix(null, s, offset, rows, cols, rowStride, colStride);
    }

    /** Row-major contiguous heap matrix. */
    public static StridedMatrix rowMajor(float[] a, int rows, int cols) {
        return of(a, 0, rows, cols, cols, 1);
    }

    public StridedMatrix transpose() {
        return new StridedMatrix(array, segment, offset, cols, rows, colStride, rowStride);
    }
}
