package dev.stiefel.tensor.cpu;

/**
 * A matrix whose rows are produced in f32 on demand, for {@link Sgemm#gemm(RowSource, StridedMatrix, float[], int, int, int)}:
 * a weight stored in another form (packed integer codes, bf16) is turned into f32 one k slice of MR rows at a time,
 * straight into the packed A panels, instead of being widened whole first. Implementations are called from several
 * pool threads at once and must not share mutable state between calls.
 */
public interface RowSource {
    int rows();

    int cols();

    /** {@code dst[dstOff .. dstOff+len)} = row {@code row}, columns {@code [col0, col0+len)}, in f32. */
    void row(int row, int col0, int len, float[] dst, int dstOff);
}
