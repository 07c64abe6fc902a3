package dev.stiefel.tensor.backend;

import dev.stiefel.tensor.Tensor;

/**
 * The kernels behind {@link Tensor}'s ops. {@link Tensor} validates shapes, axes and dtypes before calling
 * in, so an implementation may assume well-formed arguments; every method returns a new contiguous tensor
 * (f32 unless stated) and never modifies its inputs. Inputs may be any strided view of any floating dtype.
 *
 * <p>The CPU backend is built in; others (OpenCL) register a {@link BackendProvider} through
 * {@link java.util.ServiceLoader} and are chosen with {@code -Dstiefel.backend=NAME}. A backend that does not
 * accelerate an op can extend the CPU one and inherit it.
 */
public interface Backend {
    String name();

    Tensor unary(UnaryOp op, Tensor x, float p0, float p1);

    /** {@code outShape} is the broadcast of the two shapes. */
    Tensor binary(BinaryOp op, Tensor a, Tensor b, int[] outShape);

    /** ARGMAX/ARGMIN return i32. {@code axis} is already normalised. */
    Tensor reduce(ReduceOp op, Tensor x, int axis, boolean keepDim);

    /** Softmax, or log-softmax when {@code log}, along {@code axis}. */
    Tensor softmax(Tensor x, int axis, boolean log);

    /** RMSNorm over the last dimension with a weight of that size. */
    Tensor rmsNorm(Tensor x, Tensor weight, float eps);

    /**
     * Rotary position embedding of x [..., T, H, D] with {@code positions[T]} and frequencies {@code invFreq[D/2]};
     * {@code interleaved} rotates pairs (2i, 2i+1) (Meta / llama2.c / GGUF), else pairs (i, i+D/2) (Hugging Face).
     */
    Tensor rope(Tensor x, int[] positions, double[] invFreq, boolean interleaved);

    /** [..., m, k] · [..., k, n] with broadcast batch dims; {@code outShape} is the result's shape. */
    Tensor matmul(Tensor a, Tensor b, int[] outShape);

    /** Slices at {@code indices} (already range-checked) along {@code axis}; keeps the input's dtype. */
    Tensor indexSelect(Tensor x, int axis, int[] indices);

    /** torch.gather along {@code axis} with an i32 index of the input's rank (already range-checked). */
    Tensor gather(Tensor x, int axis, Tensor index);

    /** Top-k along the last dimension, values descending, i32 indices. */
    Tensor.TopK topk(Tensor x, int k);

    /** Copies {@code src} into {@code dst} (same shape, any strides, dtype converted); {@code dst} is writable heap. */
    void copy(Tensor src, Tensor dst);
}
