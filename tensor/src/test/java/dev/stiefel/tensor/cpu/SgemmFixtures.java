package dev.stiefel.tensor.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;

/** Operand layouts and the f64 reference shared by the Sgemm and Sgemv tests. */
final class SgemmFixtures {
    static final ValueLayout.OfFloat F32LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private SgemmFixtures() {}

    /** How a logical rows×cols matrix is stored. */
    enum Layout {
        /** contiguous row-major float[] */
        ROW_MAJOR,
        /** the transpose of a row-major cols×rows array (rowStride 1) */
        TRANSPOSED,
        /** a sub-view of a wider array: offset 3, rowStride cols+5 */
        STRIDED,
        /** neither stride 1: offset 1, colStride 2, rowStride 2·cols+3 */
        GAPPED,
        /** MemorySegment.ofArray over a float[] (row-major) */
        HEAP_SEGMENT,
        /** a read-only heap segment, which cannot be turned back into its array (row-major) */
        READ_ONLY_HEAP_SEGMENT,
        /** off-heap segment at an odd byte offset (row-major) */
        NATIVE_UNALIGNED,
        /** off-heap segment at an odd byte offset, transposed (rowStride 1) */
        NATIVE_UNALIGNED_TRANSPOSED
    }

    /** Values in [-1, 1), none zero-heavy. */
    static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = r.nextFloat() * 2 - 1;
        return v;
    }

    /** Stores the row-major values {@code v} (rows×cols) in {@code layout}. */
    static StridedMatrix store(float[] v, int rows, int cols, Layout layout, Arena arena) {
        switch (layout) {
            case ROW_MAJOR:
                return StridedMatrix.rowMajor(v.clone(), rows, cols);
            case TRANSPOSED: {
                float[] t = new float[rows * cols];
                for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) t[j * rows + i] = v[i * cols + j];
                return StridedMatrix.of(t, 0, cols, rows, rows, 1).transpose();
            }
            case STRIDED: {
                int ld = cols + 5;
                float[] s = new float[3 + rows * ld];
                java.util.Arrays.fill(s, Float.NaN);    // the gaps must never be read
                for (int i = 0; i < rows; i++) System.arraycopy(v, i * cols, s, 3 + i * ld, cols);
                return StridedMatrix.of(s, 3, rows, cols, ld, 1);
            }
            case GAPPED: {
                int ld = 2 * cols + 3;
                float[] s = new float[1 + rows * ld];
                java.util.Arrays.fill(s, Float.NaN);
                for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) s[1 + i * ld + 2 * j] = v[i * cols + j];
                return StridedMatrix.of(s, 1, rows, cols, ld, 2);
            }
            case HEAP_SEGMENT:
                return StridedMatrix.of(MemorySegment.ofArray(v.clone()), 0, rows, cols, cols, 1);
            case READ_ONLY_HEAP_SEGMENT:
                return StridedMatrix.of(MemorySegment.ofArray(v.clone()).asReadOnly(), 0, rows, cols, cols, 1);
            case NATIVE_UNALIGNED: {
                MemorySegment s = arena.allocate((long) rows * cols * 4 + 8, 8).asSlice(3, (long) rows * cols * 4);
                for (int i = 0; i < rows * cols; i++) s.set(F32LE, 4L * i, v[i]);
                return StridedMatrix.of(s, 0, rows, cols, cols, 1);
            }
            case NATIVE_UNALIGNED_TRANSPOSED: {
                MemorySegment s = arena.allocate((long) rows * cols * 4 + 8, 8).asSlice(1, (long) rows * cols * 4);
                for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) s.set(F32LE, 4L * (j * rows + i), v[i * cols + j]);
                return StridedMatrix.of(s, 0, cols, rows, rows, 1).transpose();
            }
            default:
                throw new AssertionError(layout);
        }
    }

    /**
     * Checks {@code got} (m×n at c[cOff + i·ldc + j]) against c0 + A·B computed in f64 (c0 = 0 unless
     * accumulating). Tolerance per element: 1e-5·sqrt(k)·(|c0| + Σ_p |a_ip||b_pj|) + 1e-30, i.e. relative to the
     * magnitude of the terms summed; rounding in f32 stays orders of magnitude below it, a wrong index does not.
     * Returns a description of the first mismatch, or null.
     */
    static String compare(float[] a, float[] b, float[] c0, int m, int n, int k, float[] got, int cOff, int ldc) {
        double tol = 1e-5 * Math.sqrt(Math.max(1, k));
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = c0 == null ? 0 : c0[i * n + j], mag = Math.abs(s);
                for (int p = 0; p < k; p++) {
                    double t = (double) a[i * k + p] * b[p * n + j];
                    s += t;
                    mag += Math.abs(t);
                }
                double g = got[cOff + i * ldc + j];
                if (!(Math.abs(g - s) <= tol * mag + 1e-30))
                    return "C(" + i + "," + j + ") = " + g + " but reference " + s + " (magnitude " + mag + ")";
            }
        return null;
    }
}
