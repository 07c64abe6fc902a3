package dev.stiefel.tensor;

import dev.stiefel.tensor.backend.Backend;
import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.backend.BinaryOp;
import dev.stiefel.tensor.backend.ReduceOp;
import dev.stiefel.tensor.backend.UnaryOp;
import dev.stiefel.tensor.linalg.DMatrix;

import java.util.Arrays;
import java.util.Random;

/**
 * A dense n-dimensional tensor: a {@link Storage} plus offset, shape and strides (in elements). Views
 * (reshape of a contiguous tensor, permute, transpose, slice, narrow, select, expand) share storage; every
 * op returns a fresh contiguous f32 tensor computed by the current {@link Backend}.
 *
 * <p>Shapes are validated here, before any kernel runs, so a wrong call fails with an
 * {@link IllegalArgumentException} that names the op and the shapes involved, whatever the backend.
 * Negative axes count from the end ({@code -1} is the last).
 */
public final class Tensor {
    private final Storage storage;
    private final int offset;
    private final int[] shape;
    private final int[] strides;

    private Tensor(Storage storage, int offset, int[] shape, int[] strides) {
        this.storage = storage;
        this.offset = offset;
        this.shape = shape;
        this.strides = strides;
    }

    // ---------------------------------------------------------------- construction

    /** A view of {@code storage}; checks that every addressed element lies inside it. */
    public static Tensor view(Storage storage, int offset, int[] shape, int[] strides) {
        if (shape.length != strides.length)
            throw new IllegalArgumentException("view: shape " + Shape.str(shape) + " and strides " + Shape.str(strides) + " differ in rank");
        long n = Shape.numel(shape);
        long last = offset;
        for (int d = 0; d < shape.length; d++) {
            if (strides[d] < 0) throw new IllegalArgumentException("view: negative stride in " + Shape.str(strides));
            last += (long) (shape[d] - 1) * strides[d];
        }
        if (n > 0 && (offset < 0 || last >= storage.size()))
            throw new IllegalArgumentException("view: shape " + Shape.str(shape) + " strides " + Shape.str(strides) + " at offset "
                    + offset + " reaches element " + last + " of a storage of " + storage.size());
        return new Tensor(storage, offset, shape.clone(), strides.clone());
    }

    /** A contiguous tensor over the whole of {@code storage}. */
    public static Tensor of(Storage storage, int... shape) {
        long n = Shape.numel(shape);
        if (n != storage.size())
            throw new IllegalArgumentException("shape " + Shape.str(shape) + " has " + n + " elements but the storage has " + storage.size());
        return new Tensor(storage, 0, shape.clone(), Shape.contiguousStrides(shape));
    }

    /** Wraps {@code data} without copying (the tensor and the array share memory). */
    public static Tensor wrap(float[] data, int... shape) { return of(new FloatStorage(data), shape); }

    /** Copies {@code data} into a new tensor. */
    public static Tensor of(float[] data, int... shape) { return wrap(data.clone(), shape); }

    public static Tensor ofInts(int[] data, int... shape) { return of(new IntStorage(data.clone()), shape); }

    public static Tensor empty(DType dtype, int... shape) {
        int n = (int) Shape.numel(shape);
        Storage s = switch (dtype) {
            case F32 -> new FloatStorage(new float[n]);
            case F16, BF16 -> new HalfStorage(new short[n], dtype);
            case I32 -> new IntStorage(new int[n]);
        };
        return of(s, shape);
    }

    public static Tensor zeros(int... shape) { return empty(DType.F32, shape); }

    public static Tensor full(float value, int... shape) {
        float[] d = new float[(int) Shape.numel(shape)];
        Arrays.fill(d, value);
        return wrap(d, shape);
    }

    public static Tensor ones(int... shape) { return full(1f, shape); }

    public static Tensor scalar(float value) { return wrap(new float[]{value}); }

    /** 0, 1, ..., n-1 as f32. */
    public static Tensor arange(int n) {
        float[] d = new float[n];
        for (int i = 0; i < n; i++) d[i] = i;
        return wrap(d, n);
    }

    /** Standard normal samples from {@code rnd}. */
    public static Tensor randn(Random rnd, int... shape) {
        float[] d = new float[(int) Shape.numel(shape)];
        for (int i = 0; i < d.length; i++) d[i] = (float) rnd.nextGaussian();
        return wrap(d, shape);
    }

    /** Uniform samples in [lo, hi) from {@code rnd}. */
    public static Tensor uniform(Random rnd, float lo, float hi, int... shape) {
        float[] d = new float[(int) Shape.numel(shape)];
        for (int i = 0; i < d.length; i++) d[i] = lo + (hi - lo) * rnd.nextFloat();
        return wrap(d, shape);
    }

    /** An f32 tensor [rows, cols] holding an f64 matrix (each entry rounded once), e.g. a fused transform. */
    public static Tensor of(DMatrix m) {
        float[] d = new float[m.rows * m.cols];
        for (int i = 0; i < d.length; i++) d[i] = (float) m.data[i];
        return wrap(d, m.rows, m.cols);
    }

    /** This 2-D tensor widened to an f64 matrix for {@link dev.stiefel.tensor.linalg.Linalg}. */
    public DMatrix toDMatrix() {
        if (dim() != 2) throw new IllegalArgumentException("toDMatrix: needs a 2-D tensor, got " + Shape.str(shape));
        float[] f = toFloatArray();
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return new DMatrix(shape[0], shape[1], d);
    }

    // ---------------------------------------------------------------- properties

    public Storage storage() { return storage; }
    public DType dtype() { return storage.dtype(); }
    public int offset() { return offset; }
    public int[] shape() { return shape.clone(); }
    public int[] strides() { return strides.clone(); }
    public int dim() { return shape.length; }
    public int numel() { return (int) Shape.numel(shape); }

    /** Size of dimension {@code axis} (negative counts from the end). */
    public int size(int axis) { return shape[Shape.axis("size", axis, shape)]; }

    /** Whether the elements are laid out row-major without gaps from {@link #offset()}. */
    public boolean isContiguous() {
        int expected = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            if (shape[d] != 1 && strides[d] != expected) return false;
            expected *= shape[d];
        }
        return true;
    }

    /** Storage index of the element at {@code index}. */
    public int indexOf(int... index) {
        if (index.length != shape.length)
            throw new IllegalArgumentException("index " + Shape.str(index) + " has " + index.length + " coordinates for shape " + Shape.str(shape));
        int at = offset;
        for (int d = 0; d < shape.length; d++) {
            if (index[d] < 0 || index[d] >= shape[d])
                throw new IllegalArgumentException("index " + Shape.str(index) + " is out of range for shape " + Shape.str(shape));
            at += index[d] * strides[d];
        }
        return at;
    }

    public float get(int... index) { return storage.getFloat(indexOf(index)); }

    public int getInt(int... index) {
        if (storage instanceof IntStorage s) return s.getInt(indexOf(index));
        if (storage instanceof DeviceStorage d && dtype() == DType.I32) // one element brought over, exact for any int
            return ((IntStorage) d.toHost(view(storage, indexOf(index), new int[]{1}, new int[]{1})).storage).getInt(0);
        throw new IllegalArgumentException("getInt: tensor " + Shape.str(shape) + " is " + dtype().lower() + ", not i32");
    }

    /** Writes one element (heap storages only). Views see the change. */
    public void set(float value, int... index) {
        if (storage.isReadOnly())
            throw new IllegalStateException("set: tensor " + Shape.str(shape) + " is read-only (memory-mapped); copy() it first");
        storage.setFloat(indexOf(index), value);
    }

    /** The value of a one-element tensor. */
    public float item() {
        if (numel() != 1) throw new IllegalArgumentException("item: tensor " + Shape.str(shape) + " has " + numel() + " elements, not 1");
        return storage.getFloat(offset);
    }

    /** Whether the elements live in an accelerator's memory ({@link DeviceStorage}), not on the Java heap. */
    public boolean isOnDevice() { return storage instanceof DeviceStorage; }

    /** This tensor with its elements on the heap: itself unless it is on a device, else a contiguous copy (one transfer). */
    public Tensor toHost() { return storage instanceof DeviceStorage d ? d.toHost(this) : this; }

    /** A row-major f32 copy of the elements. */
    public float[] toFloatArray() {
        Tensor c = to(DType.F32);
        return Arrays.copyOfRange(((FloatStorage) c.storage).data(), c.offset, c.offset + c.numel());
    }

    /** A row-major int copy of an i32 tensor. */
    public int[] toIntArray() {
        requireDType("toIntArray", DType.I32);
        Tensor c = toHost().contiguous();
        int[] d = ((IntStorage) c.storage).data();
        return Arrays.copyOfRange(d, c.offset, c.offset + c.numel());
    }

    // ---------------------------------------------------------------- views

    /** Same elements in a new shape; one size may be -1. A view when contiguous, else a copy. */
    public Tensor reshape(int... newShape) {
        int[] s = newShape.clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < s.length; i++) {
            if (s[i] == -1) {
                if (infer >= 0) throw new IllegalArgumentException("reshape: more than one -1 in " + Shape.str(newShape));
                infer = i;
            } else if (s[i] < 0) {
                throw new IllegalArgumentException("reshape: negative size in " + Shape.str(newShape));
            } else known *= s[i];
        }
        if (infer >= 0) {
            if (known == 0 || numel() % known != 0)
                throw new IllegalArgumentException("reshape: cannot reshape " + Shape.str(shape) + " into " + Shape.str(newShape));
            s[infer] = (int) (numel() / known);
        }
        if (Shape.numel(s) != numel())
            throw new IllegalArgumentException("reshape: cannot reshape " + Shape.str(shape) + " (" + numel() + " elements) into " + Shape.str(newShape));
        Tensor c = contiguous();
        return new Tensor(c.storage, c.offset, s, Shape.contiguousStrides(s));
    }

    /** Reorders dimensions: result dimension i is this tensor's dimension {@code order[i]}. */
    public Tensor permute(int... order) {
        if (order.length != shape.length)
            throw new IllegalArgumentException("permute: order " + Shape.str(order) + " does not match shape " + Shape.str(shape));
        int[] s = new int[order.length], st = new int[order.length];
        boolean[] seen = new boolean[order.length];
        for (int i = 0; i < order.length; i++) {
            int a = Shape.axis("permute", order[i], shape);
            if (seen[a]) throw new IllegalArgumentException("permute: axis " + a + " repeated in " + Shape.str(order));
            seen[a] = true;
            s[i] = shape[a];
            st[i] = strides[a];
        }
        return new Tensor(storage, offset, s, st);
    }

    public Tensor transpose(int a, int b) {
        a = Shape.axis("transpose", a, shape);
        b = Shape.axis("transpose", b, shape);
        int[] order = new int[shape.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        order[a] = b;
        order[b] = a;
        return permute(order);
    }

    /** Swaps the last two dimensions (a 2-D matrix's transpose). */
    public Tensor t() {
        if (shape.length < 2) throw new IllegalArgumentException("t: needs at least 2 dims, got shape " + Shape.str(shape));
        return transpose(-2, -1);
    }

    /** Elements start, start+step, ... below end along {@code axis}. */
    public Tensor slice(int axis, int start, int end, int step) {
        int a = Shape.axis("slice", axis, shape);
        if (step < 1) throw new IllegalArgumentException("slice: step must be positive, got " + step);
        if (start < 0 || end > shape[a] || start > end)
            throw new IllegalArgumentException("slice: range [" + start + ", " + end + ") is out of bounds for axis " + axis
                    + " of shape " + Shape.str(shape));
        int[] s = shape.clone(), st = strides.clone();
        s[a] = (end - start + step - 1) / step;
        st[a] = strides[a] * step;
        return new Tensor(storage, offset + start * strides[a], s, st);
    }

    public Tensor slice(int axis, int start, int end) { return slice(axis, start, end, 1); }

    public Tensor narrow(int axis, int start, int length) {
        if (length < 0) throw new IllegalArgumentException("narrow: negative length " + length + " for shape " + Shape.str(shape));
        return slice(axis, start, start + length, 1);
    }

    /** The sub-tensor at {@code index} along {@code axis}, with that dimension removed. */
    public Tensor select(int axis, int index) {
        int a = Shape.axis("select", axis, shape);
        if (index < 0 || index >= shape[a])
            throw new IllegalArgumentException("select: index " + index + " is out of range for axis " + axis + " of shape " + Shape.str(shape));
        return new Tensor(storage, offset + index * strides[a], Shape.without(shape, a), Shape.without(strides, a));
    }

    /** Inserts a dimension of size 1 at {@code axis} (0..dim()). */
    public Tensor unsqueeze(int axis) {
        int nd = shape.length + 1;
        int a = axis < 0 ? axis + nd : axis;
        if (a < 0 || a >= nd)
            throw new IllegalArgumentException("unsqueeze: axis " + axis + " is out of range for shape " + Shape.str(shape));
        int[] s = new int[nd], st = new int[nd];
        for (int i = 0, j = 0; i < nd; i++) {
            if (i == a) { s[i] = 1; st[i] = a < shape.length ? strides[a] * shape[a] : 1; }
            else { s[i] = shape[j]; st[i] = strides[j]; j++; }
        }
        return new Tensor(storage, offset, s, st);
    }

    /** Removes dimension {@code axis}, which must have size 1. */
    public Tensor squeeze(int axis) {
        int a = Shape.axis("squeeze", axis, shape);
        if (shape[a] != 1)
            throw new IllegalArgumentException("squeeze: axis " + axis + " of shape " + Shape.str(shape) + " has size " + shape[a] + ", not 1");
        return new Tensor(storage, offset, Shape.without(shape, a), Shape.without(strides, a));
    }

    /** A broadcast view with {@code newShape}: size-1 dimensions repeat with stride 0 (no copy). */
    public Tensor expand(int... newShape) {
        if (newShape.length < shape.length)
            throw new IllegalArgumentException("expand: cannot expand shape " + Shape.str(shape) + " to fewer dims " + Shape.str(newShape));
        int lead = newShape.length - shape.length;
        int[] st = new int[newShape.length];
        for (int i = 0; i < newShape.length; i++) {
            if (newShape[i] < 0) throw new IllegalArgumentException("expand: negative size in " + Shape.str(newShape));
            if (i < lead) { st[i] = 0; continue; }
            int d = shape[i - lead];
            if (d == newShape[i]) st[i] = strides[i - lead];
            else if (d == 1) st[i] = 0;
            else throw new IllegalArgumentException("expand: cannot expand shape " + Shape.str(shape) + " to " + Shape.str(newShape));
        }
        return new Tensor(storage, offset, newShape.clone(), st);
    }

    // ---------------------------------------------------------------- copies and conversion

    /** This tensor if it is already contiguous, else a contiguous copy of the same dtype (on the device for a device tensor). */
    public Tensor contiguous() {
        if (isContiguous()) return this;
        return storage instanceof DeviceStorage d ? d.contiguousOnDevice(this) : copy();
    }

    /** A contiguous heap copy of the same dtype (memory-mapped tensors become writable; device tensors come to the heap). */
    public Tensor copy() {
        if (storage instanceof DeviceStorage d) return d.toHost(this);
        Tensor out = empty(dtype(), shape);
        backend().copy(this, out);
        return out;
    }

    /** This tensor in {@code dtype}: itself when it already is a contiguous heap tensor of that type, else a converted heap copy. */
    public Tensor to(DType dtype) {
        if (storage instanceof DeviceStorage) return toHost().to(dtype);
        if (dtype == dtype() && isContiguous() && !storage.isReadOnly()) return this;
        Tensor out = empty(dtype, shape);
        backend().copy(this, out);
        return out;
    }

    /** Copies {@code src} (broadcast to this shape) into this tensor, converting the dtype. */
    public void copyFrom(Tensor src) {
        if (storage.isReadOnly()) throw new IllegalStateException("copyFrom: tensor " + Shape.str(shape) + " is read-only");
        Shape.broadcast("copyFrom", src.shape, shape);
        backend().copy(src.shape.length == shape.length && Arrays.equals(src.shape, shape) ? src : src.expand(shape), this);
    }

    // ---------------------------------------------------------------- element-wise

    private Tensor unary(UnaryOp op, float p0, float p1) {
        requireFloating(op.lower());
        return backend().unary(op, this, p0, p1);
    }

    private Tensor binary(BinaryOp op, Tensor other) {
        requireFloating(op.lower());
        other.requireFloating(op.lower());
        return backend().binary(op, this, other, Shape.broadcast(op.lower(), shape, other.shape));
    }

    public Tensor add(Tensor o) { return binary(BinaryOp.ADD, o); }
    public Tensor sub(Tensor o) { return binary(BinaryOp.SUB, o); }
    public Tensor mul(Tensor o) { return binary(BinaryOp.MUL, o); }
    public Tensor div(Tensor o) { return binary(BinaryOp.DIV, o); }
    public Tensor pow(Tensor o) { return binary(BinaryOp.POW, o); }
    /** Element-wise maximum (NaN wins). */
    public Tensor maximum(Tensor o) { return binary(BinaryOp.MAX, o); }
    /** Element-wise minimum (NaN wins). */
    public Tensor minimum(Tensor o) { return binary(BinaryOp.MIN, o); }

    /** 1 where this > o, else 0 (broadcast; NaN compares false). */
    public Tensor gt(Tensor o) { return binary(BinaryOp.GT, o); }
    public Tensor ge(Tensor o) { return binary(BinaryOp.GE, o); }
    public Tensor lt(Tensor o) { return binary(BinaryOp.LT, o); }
    public Tensor le(Tensor o) { return binary(BinaryOp.LE, o); }
    public Tensor eq(Tensor o) { return binary(BinaryOp.EQ, o); }
    public Tensor gt(float s) { return gt(scalar(s)); }
    public Tensor ge(float s) { return ge(scalar(s)); }
    public Tensor lt(float s) { return lt(scalar(s)); }
    public Tensor le(float s) { return le(scalar(s)); }

    public Tensor add(float s) { return unary(UnaryOp.ADD_SCALAR, s, 0); }
    public Tensor sub(float s) { return unary(UnaryOp.ADD_SCALAR, -s, 0); }
    public Tensor mul(float s) { return unary(UnaryOp.MUL_SCALAR, s, 0); }
    public Tensor div(float s) { return unary(UnaryOp.DIV_SCALAR, s, 0); }
    public Tensor pow(float p) { return unary(UnaryOp.POW_SCALAR, p, 0); }
    public Tensor maximum(float s) { return unary(UnaryOp.CLAMP, s, Float.POSITIVE_INFINITY); }
    public Tensor minimum(float s) { return unary(UnaryOp.CLAMP, Float.NEGATIVE_INFINITY, s); }

    public Tensor clamp(float min, float max) {
        if (!(min <= max)) throw new IllegalArgumentException("clamp: min " + min + " > max " + max);
        return unary(UnaryOp.CLAMP, min, max);
    }

    public Tensor neg() { return unary(UnaryOp.NEG, 0, 0); }
    public Tensor exp() { return unary(UnaryOp.EXP, 0, 0); }
    public Tensor log() { return unary(UnaryOp.LOG, 0, 0); }
    public Tensor sqrt() { return unary(UnaryOp.SQRT, 0, 0); }
    public Tensor rsqrt() { return unary(UnaryOp.RSQRT, 0, 0); }
    public Tensor tanh() { return unary(UnaryOp.TANH, 0, 0); }
    public Tensor sigmoid() { return unary(UnaryOp.SIGMOID, 0, 0); }
    /** x · sigmoid(x), the SwiGLU gate activation. */
    public Tensor silu() { return unary(UnaryOp.SILU, 0, 0); }
    public Tensor abs() { return unary(UnaryOp.ABS, 0, 0); }
    public Tensor square() { return unary(UnaryOp.SQUARE, 0, 0); }
    public Tensor reciprocal() { return unary(UnaryOp.RECIPROCAL, 0, 0); }
    /** Round half to even, as {@link Math#rint} (and torch.round): the rounding of fake quantization. */
    public Tensor round() { return unary(UnaryOp.ROUND, 0, 0); }

    // ---------------------------------------------------------------- reductions

    private Tensor reduce(ReduceOp op, int axis, boolean keepDim) {
        requireFloating(op.lower());
        int a = Shape.axis(op.lower(), axis, shape);
        if (shape[a] == 0 && op != ReduceOp.SUM)
            throw new IllegalArgumentException(op.lower() + ": axis " + axis + " of shape " + Shape.str(shape) + " is empty");
        return backend().reduce(op, this, a, keepDim);
    }

    public Tensor sum(int axis, boolean keepDim) { return reduce(ReduceOp.SUM, axis, keepDim); }
    public Tensor mean(int axis, boolean keepDim) { return reduce(ReduceOp.MEAN, axis, keepDim); }
    public Tensor max(int axis, boolean keepDim) { return reduce(ReduceOp.MAX, axis, keepDim); }
    public Tensor min(int axis, boolean keepDim) { return reduce(ReduceOp.MIN, axis, keepDim); }
    /** Index of the first maximum along {@code axis}, as i32. */
    public Tensor argmax(int axis, boolean keepDim) { return reduce(ReduceOp.ARGMAX, axis, keepDim); }
    public Tensor argmin(int axis, boolean keepDim) { return reduce(ReduceOp.ARGMIN, axis, keepDim); }
    /** log Σ exp(x) along {@code axis}, shifted by the maximum so it does not overflow. */
    public Tensor logsumexp(int axis, boolean keepDim) { return reduce(ReduceOp.LOGSUMEXP, axis, keepDim); }

    /** Variance along {@code axis}; {@code unbiased} divides by n-1 (Bessel), else by n. */
    public Tensor var(int axis, boolean keepDim, boolean unbiased) {
        Tensor v = reduce(ReduceOp.VAR, axis, keepDim);
        int n = shape[Shape.axis("var", axis, shape)];
        return unbiased ? v.mul((float) n / (n - 1)) : v;
    }

    public Tensor sum(int axis) { return sum(axis, false); }
    public Tensor mean(int axis) { return mean(axis, false); }

    /** Sum of all elements, as a 0-dim tensor. */
    public Tensor sum() { return reshape(numel()).sum(0, false); }
    public Tensor mean() { return reshape(numel()).mean(0, false); }
    public Tensor max() { return reshape(numel()).max(0, false); }
    public Tensor min() { return reshape(numel()).min(0, false); }

    // ---------------------------------------------------------------- normalisation and attention pieces

    public Tensor softmax(int axis) {
        requireFloating("softmax");
        return backend().softmax(this, Shape.axis("softmax", axis, shape), false);
    }

    public Tensor logSoftmax(int axis) {
        requireFloating("logSoftmax");
        return backend().softmax(this, Shape.axis("logSoftmax", axis, shape), true);
    }

    /** RMSNorm over the last dimension: x / sqrt(mean(x²) + eps) · weight (Zhang & Sennrich 2019, eq. 4). */
    public Tensor rmsNorm(Tensor weight, float eps) {
        requireFloating("rmsNorm");
        weight.requireFloating("rmsNorm");
        if (shape.length == 0 || weight.dim() != 1 || weight.size(0) != shape[shape.length - 1])
            throw new IllegalArgumentException("rmsNorm: weight " + Shape.str(weight.shape) + " does not match the last dimension of " + Shape.str(shape));
        if (!(eps >= 0)) throw new IllegalArgumentException("rmsNorm: eps must be >= 0, got " + eps);
        return backend().rmsNorm(this, weight, eps);
    }

    /** silu(this) ⊙ up, the SwiGLU feed-forward's product (Shazeer 2020, eq. 6), in one pass; shapes must be equal. */
    public Tensor swiglu(Tensor up) {
        requireFloating("swiglu");
        up.requireFloating("swiglu");
        if (!Arrays.equals(shape, up.shape))
            throw new IllegalArgumentException("swiglu: gate " + Shape.str(shape) + " and up " + Shape.str(up.shape) + " differ in shape");
        return backend().swiglu(this, up);
    }

    /**
     * Matrix product over the last two dimensions, batch dimensions broadcast: [..., m, k] · [..., k, n] →
     * [..., m, n]. Transposed operands ({@code b.t()}) are stride views and cost no copy.
     */
    public Tensor matmul(Tensor b) {
        requireFloating("matmul");
        b.requireFloating("matmul");
        if (dim() < 2 || b.dim() < 2)
            throw new IllegalArgumentException("matmul: both operands need at least 2 dims, got " + Shape.str(shape) + " and " + Shape.str(b.shape));
        int m = shape[dim() - 2], k = shape[dim() - 1], k2 = b.shape[b.dim() - 2], n = b.shape[b.dim() - 1];
        if (k != k2)
            throw new IllegalArgumentException("matmul: shapes " + Shape.str(shape) + " and " + Shape.str(b.shape)
                    + " have inner dimensions " + k + " and " + k2);
        int[] batch;
        try {
            batch = Shape.broadcast("matmul", Arrays.copyOf(shape, dim() - 2), Arrays.copyOf(b.shape, b.dim() - 2));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("matmul: shapes " + Shape.str(shape) + " and " + Shape.str(b.shape)
                    + " have batch dimensions that cannot be broadcast together");
        }
        return backend().matmul(this, b, Shape.concat(batch, new int[]{m, n}));
    }

    /** Outer product of two vectors: [m] ⊗ [n] → [m, n]. */
    public Tensor outer(Tensor b) {
        if (dim() != 1 || b.dim() != 1)
            throw new IllegalArgumentException("outer: needs two vectors, got " + Shape.str(shape) + " and " + Shape.str(b.shape));
        return unsqueeze(1).mul(b.unsqueeze(0));
    }

    // ---------------------------------------------------------------- indexing

    /** Rows of this table (axis 0) at the token ids {@code ids} (i32, any shape): result shape ids.shape + [dim]. */
    public Tensor embedding(Tensor ids) {
        if (dim() != 2) throw new IllegalArgumentException("embedding: table must be 2-D, got " + Shape.str(shape));
        Tensor rows = indexSelect(0, ids.reshape(ids.numel()));
        return rows.reshape(Shape.concat(ids.shape, new int[]{shape[1]}));
    }

    /** The slices at {@code indices} (1-D i32) along {@code axis}. */
    public Tensor indexSelect(int axis, Tensor indices) {
        indices.requireDType("indexSelect", DType.I32);
        if (indices.dim() != 1) throw new IllegalArgumentException("indexSelect: indices must be 1-D, got " + Shape.str(indices.shape));
        int a = Shape.axis("indexSelect", axis, shape);
        int[] idx = indices.toIntArray();
        for (int i : idx)
            if (i < 0 || i >= shape[a])
                throw new IllegalArgumentException("indexSelect: index " + i + " is out of range for axis " + axis + " of shape " + Shape.str(shape));
        return backend().indexSelect(this, a, idx);
    }

    /** torch.gather: out[..i..] = x[.. index[..i..] ..] along {@code axis}; index has this tensor's rank. */
    public Tensor gather(int axis, Tensor index) {
        index.requireDType("gather", DType.I32);
        int a = Shape.axis("gather", axis, shape);
        if (index.dim() != dim())
            throw new IllegalArgumentException("gather: index " + Shape.str(index.shape) + " and input " + Shape.str(shape) + " differ in rank");
        for (int d = 0; d < dim(); d++)
            if (d != a && index.shape[d] > shape[d])
                throw new IllegalArgumentException("gather: index " + Shape.str(index.shape) + " is larger than input " + Shape.str(shape) + " in dim " + d);
        for (int i : index.toIntArray())
            if (i < 0 || i >= shape[a])
                throw new IllegalArgumentException("gather: index " + i + " is out of range for axis " + axis + " of shape " + Shape.str(shape));
        return backend().gather(this, a, index);
    }

    /** The k largest values of the last dimension, sorted descending, with their i32 indices (ties: lower index first). */
    public TopK topk(int k) {
        requireFloating("topk");
        if (dim() == 0) throw new IllegalArgumentException("topk: needs at least 1 dim, got a scalar");
        int n = shape[dim() - 1];
        if (k < 1 || k > n) throw new IllegalArgumentException("topk: k = " + k + " is out of range for last dimension " + n + " of shape " + Shape.str(shape));
        return backend().topk(this, k);
    }

    public record TopK(Tensor values, Tensor indices) {}

    /** Joins tensors of equal shape except along {@code axis}. */
    public static Tensor concat(int axis, Tensor... ts) {
        if (ts.length == 0) throw new IllegalArgumentException("concat: no tensors");
        int[] ref = ts[0].shape;
        int a = Shape.axis("concat", axis, ref);
        int total = 0;
        for (Tensor t : ts) {
            boolean ok = t.dim() == ref.length && t.dtype() == ts[0].dtype();
            for (int d = 0; ok && d < ref.length; d++) ok = d == a || t.shape[d] == ref[d];
            if (!ok) throw new IllegalArgumentException("concat: shape " + Shape.str(t.shape) + " " + t.dtype().lower()
                    + " does not match " + Shape.str(ref) + " " + ts[0].dtype().lower() + " outside axis " + axis);
            total += t.shape[a];
        }
        boolean onDevice = false;
        for (Tensor t : ts) onDevice |= t.isOnDevice();
        // device parts are assembled on the device (the CPU backend's empty is the heap's)
        Tensor out = onDevice ? backend().empty(ts[0].dtype(), Shape.with(ref, a, total)) : empty(ts[0].dtype(), Shape.with(ref, a, total));
        int at = 0;
        for (Tensor t : ts) {
            out.narrow(a, at, t.shape[a]).copyFrom(t);
            at += t.shape[a];
        }
        return out;
    }

    /** Stacks tensors of equal shape along a new dimension {@code axis}. */
    public static Tensor stack(int axis, Tensor... ts) {
        if (ts.length == 0) throw new IllegalArgumentException("stack: no tensors");
        Tensor[] u = new Tensor[ts.length];
        for (int i = 0; i < ts.length; i++) {
            if (!Arrays.equals(ts[i].shape, ts[0].shape))
                throw new IllegalArgumentException("stack: shapes " + Shape.str(ts[0].shape) + " and " + Shape.str(ts[i].shape) + " differ");
            u[i] = ts[i].unsqueeze(axis);
        }
        return concat(axis, u);
    }

    // ---------------------------------------------------------------- masks

    /** Keeps elements on and below diagonal {@code k} of the last two dims, zeroes the rest. */
    public Tensor tril(int k) { return triangle(k, true); }

    /** Keeps elements on and above diagonal {@code k} of the last two dims, zeroes the rest. */
    public Tensor triu(int k) { return triangle(k, false); }

    private Tensor triangle(int k, boolean lower) {
        if (dim() < 2) throw new IllegalArgumentException((lower ? "tril" : "triu") + ": needs at least 2 dims, got " + Shape.str(shape));
        int r = shape[dim() - 2], c = shape[dim() - 1];
        float[] m = new float[r * c];
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++) m[i * c + j] = (lower ? j - i <= k : j - i >= k) ? 1f : 0f;
        return mul(wrap(m, r, c));
    }

    /**
     * Additive causal attention mask for {@code queries} new tokens attending to {@code keys} cached plus new
     * tokens: 0 where query i (absolute position keys - queries + i) may see key j, -inf after it.
     */
    public static Tensor causalMask(int queries, int keys) {
        if (queries < 0 || keys < queries)
            throw new IllegalArgumentException("causalMask: need 0 <= queries <= keys, got queries " + queries + ", keys " + keys);
        float[] m = new float[queries * keys];
        for (int i = 0; i < queries; i++)
            for (int j = 0; j < keys; j++) m[i * keys + j] = j <= keys - queries + i ? 0f : Float.NEGATIVE_INFINITY;
        return wrap(m, queries, keys);
    }

    // ---------------------------------------------------------------- checks and printing

    /** max |this − other| computed in f64: the figure every equivalence test reports. */
    public double maxAbsDiff(Tensor other) {
        if (!Arrays.equals(shape, other.shape))
            throw new IllegalArgumentException("maxAbsDiff: shapes " + Shape.str(shape) + " and " + Shape.str(other.shape) + " differ");
        float[] a = toFloatArray(), b = other.toFloatArray();
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            double d = Math.abs((double) a[i] - b[i]);
            if (Double.isNaN(d)) return Double.NaN;
            m = Math.max(m, d);
        }
        return m;
    }

    void requireFloating(String op) {
        if (!dtype().isFloating())
            throw new IllegalArgumentException(op + ": tensor " + Shape.str(shape) + " is " + dtype().lower() + "; a floating-point tensor is needed");
    }

    void requireDType(String op, DType dt) {
        if (dtype() != dt)
            throw new IllegalArgumentException(op + ": tensor " + Shape.str(shape) + " is " + dtype().lower() + ", " + dt.lower() + " is needed");
    }

    private static Backend backend() { return Backends.current(); }

    @Override public String toString() {
        StringBuilder sb = new StringBuilder("Tensor").append(Shape.str(shape)).append(' ').append(dtype().lower());
        int n = numel();
        if (n <= 16) {
            float[] v = toFloatArray();
            sb.append(' ').append(Arrays.toString(v));
        }
        return sb.toString();
    }
}
