package dev.stiefel.tensor.backend;

import dev.stiefel.tensor.DType;
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

    /** silu(gate) ⊙ up over two tensors of one shape: the SwiGLU feed-forward's product (Shazeer 2020). */
    Tensor swiglu(Tensor gate, Tensor up);

    // Fused gradients (see dev.stiefel.tensor.Backward for the formulas). Shapes are checked by the caller.

    /** Softmax gradient along {@code axis} (normalised) from the softmax output y and the output gradient. */
    Tensor softmaxBackward(Tensor y, Tensor gradOut, int axis);

    /** RMSNorm gradients {dx, dWeight}; dWeight is summed over every row. */
    Tensor[] rmsNormBackward(Tensor x, Tensor weight, float eps, Tensor gradOut);

    /** SwiGLU gradients {dGate, dUp}; with {@code up} null, the gradient of silu(gate) alone: {dGate, null}. */
    Tensor[] swigluBackward(Tensor gate, Tensor up, Tensor gradOut);

    /** Multi-head attention, as {@link dev.stiefel.tensor.Attention#forward}: {out [..., Tq, H, Dv], probs [..., H, Tq, Tk]}. */
    Tensor[] attention(Tensor q, Tensor k, Tensor v, Tensor mask, float scale);

    /** Attention gradients {dq, dk, dv}, as {@link dev.stiefel.tensor.Attention#backward}. */
    Tensor[] attentionBackward(Tensor q, Tensor k, Tensor v, Tensor probs, Tensor gradOut, float scale);

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

    /**
     * The adjoint of a gather along {@code axis}: a tensor of {@code shape}, zero but for src added at index along axis,
     * where index (i32, range-checked) and src have shape's shape with any count along axis (1 for max/min's gradient, k
     * for a top-k gather's). Each line's elements are added in index order onto +0, so the values of autograd's heap loop
     * bit for bit. Null means the caller scatters on the heap (the CPU backend); a device backend does it where src is,
     * so only an index it does not hold moves.
     */
    default Tensor scatterAdd(int[] shape, int axis, Tensor index, Tensor src) { return null; }

    /** Top-k along the last dimension, values descending, i32 indices. */
    Tensor.TopK topk(Tensor x, int k);

    /**
     * The fast Walsh–Hadamard transform along the middle axis of x seen as [outer, n, inner] (n a power of two), times
     * {@code scale}: out[o, i, j] = scale · Σ_k H_n[i, k]·x[o, k, j], H_n Sylvester's ±1 matrix. A device backend
     * computes it where x is; null means this backend has no kernel for it and the caller transforms on the heap
     * (riemann's {@code HadamardTransform} with its {@code Fwht}, which the CPU backend does not duplicate).
     */
    default Tensor fwht(Tensor x, int outer, int n, int inner, float scale) { return null; }

    /**
     * Fake quantization of x [n, m] with one scale and zero point per row (s, z [n, 1]) as one op:
     * q = clamp(rint(x / s) + z, qmin, qmax), y = (q − z)·s, the values of those six element-wise ops bit for bit.
     * Null means this backend composes it from them (the CPU backend: the same arithmetic, one pass per op); a device
     * backend fuses it because every op there is a kernel launch and a pass over memory. Autograd's
     * {@code FakeQuant.quantize} is its user.
     */
    default Tensor fakeQuant(Tensor x, Tensor s, Tensor z, int qmin, int qmax) { return null; }

    /**
     * The gradients {dx [n, m], ds [n, 1], dz [n, 1]} of {@link #fakeQuant} for gradOut [n, m] with the straight-through
     * rounding, each as the tape of the six composed ops computes it: with d = (g·s)·[qmin ≤ rint(x/s) + z ≤ qmax],
     * dx = d / s, ds = Σ g·(q − z) + Σ −(d·x)/(s·s), dz = Σ −(g·s) + Σ d, each Σ over the row in the order of this
     * backend's own sums; null where the backend composes {@link #fakeQuant}.
     */
    default Tensor[] fakeQuantBackward(Tensor x, Tensor s, Tensor z, int qmin, int qmax, Tensor gradOut) { return null; }

    /**
     * The scale and zero point ([n, 1] each) of n groups of values with these extremes (max, min: n values each), by
     * the rule of quant's {@code Quantizer.paramsFor} (the range widened to contain 0 and scaled by {@code ratio};
     * symmetric s = max(−lo, hi)/qmax, z = 0; asymmetric s = (hi − lo)/qmax, z = rint(−lo/s) in [0, qmax]; s at least
     * {@code minScale}), its bits: a device computes them where the extremes are, so quantizing a device tensor on the
     * tape moves nothing to the heap. Null where the backend leaves it to the heap (the CPU; a device without f64).
     */
    default Tensor[] fakeQuantParams(Tensor max, Tensor min, double ratio, int qmax, boolean symmetric, float minScale) { return null; }

    /**
     * Σ t² over every element, each square and the sum in f64 (as a heap loop over {@code (double) v * v}), computed where
     * t is: one value comes down instead of t. Empty where the backend leaves it to the heap (the CPU; a device
     * without f64). The order of the f64 additions is the backend's.
     */
    default java.util.OptionalDouble sumOfSquares(Tensor t) { return java.util.OptionalDouble.empty(); }

    /**
     * One Adam step on a device parameter in place: w (the parameter), m and v (its moments, f32 of w's size) are
     * updated from the gradient g with the arithmetic of autograd's Adam per element, in f64 as there, so the same
     * bits: gj = g (decoupled) or g + weightDecay·w; m = (float) (beta1·m + oneMinusBeta1·gj); v likewise with gj²;
     * w −= (float) (lr·((m / c1) / (√(v / c2) + eps) + (decoupled ? weightDecay·w : 0))). False where the backend
     * leaves it to the heap (the CPU; a device without f64), which then computes it there.
     */
    default boolean adamStep(Tensor w, Tensor g, Tensor m, Tensor v, double beta1, double oneMinusBeta1, double beta2,
                             double oneMinusBeta2, double c1, double c2, double eps, double lr, double weightDecay, boolean decoupled) {
        return false;
    }

    /**
     * {@link Tensor#causalMask}(queries, keys) where this backend's attention reads it: the heap for the CPU; a device
     * keeps the last few it made, since every layer of a forward pass masks with the same one.
     */
    default Tensor causalMask(int queries, int keys) { return Tensor.causalMask(queries, keys); }

    /**
     * A new contiguous tensor whose elements the caller writes before reading them (with {@link #copy}), held where
     * this backend keeps its results: the heap for the CPU, device memory for a device backend (f32 and i32), so that
     * assembling device tensors (concatenation) does not go through the heap.
     */
    default Tensor empty(DType dtype, int... shape) { return Tensor.empty(dtype, shape); }

    /**
     * Copies {@code src} into {@code dst} (same shape, any strides, dtype converted); {@code dst} is writable heap,
     * or a device tensor of this backend.
     */
    void copy(Tensor src, Tensor dst);

    /**
     * {@code t} as this backend keeps it between ops: for a device backend a copy in device memory (one counted
     * upload), which every later op reads without another transfer: what a model's weights should be before a
     * forward pass. The CPU backend keeps tensors where they are and returns {@code t}.
     */
    default Tensor resident(Tensor t) { return t; }
}
