package dev.stiefel.autograd;

import dev.stiefel.tensor.Tensor;

import java.util.Arrays;
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;
import java.util.function.ToDoubleFunction;

/**
 * A plain f64 n-dimensional array (row-major, no views, no strides) whose every op is a loop over output indices.
 * It is the independent side of the gradient checks: {@link GradCheck} differentiates these forwards by central
 * differences in double precision and compares with the tape's f32 rules. Nothing here calls the tensor module's
 * kernels (a {@link Tensor} is only read element by element in {@link #of(Tensor)}), so a kernel bug cannot
 * hide on both sides. Written for clarity, not speed: the arrays in the checks have at most a few hundred elements.
 */
final class NdArray {
    final int[] shape;
    final double[] data;

    NdArray(int[] shape, double[] data) {
        if (numel(shape) != data.length)
            throw new IllegalArgumentException("NdArray: " + data.length + " values for shape " + Arrays.toString(shape));
        this.shape = shape.clone();
        this.data = data;
    }

    static NdArray of(double[] data, int... shape) { return new NdArray(shape, data); }

    static NdArray scalar(double v) { return new NdArray(new int[0], new double[]{v}); }

    /** The elements of any tensor view, read one at a time. */
    static NdArray of(Tensor t) {
        int[] s = t.shape();
        return build(s, t::get);
    }

    int dim() { return shape.length; }

    int numel() { return data.length; }

    int size(int axis) { return shape[axis(axis)]; }

    double get(int... index) { return data[ravel(index, shape)]; }

    @Override public String toString() { return "NdArray" + Arrays.toString(shape) + " " + Arrays.toString(data); }

    // ------------------------------------------------------------ index arithmetic

    static int numel(int[] shape) {
        int n = 1;
        for (int d : shape) n *= d;
        return n;
    }

    static int ravel(int[] index, int[] shape) {
        int at = 0;
        for (int d = 0; d < shape.length; d++) {
            if (index[d] < 0 || index[d] >= shape[d])
                throw new IndexOutOfBoundsException(Arrays.toString(index) + " in " + Arrays.toString(shape));
            at = at * shape[d] + index[d];
        }
        return at;
    }

    int axis(int a) {
        int r = a < 0 ? a + shape.length : a;
        if (r < 0 || r >= shape.length) throw new IllegalArgumentException("axis " + a + " of " + Arrays.toString(shape));
        return r;
    }

    /** An array of {@code shape} whose element at each index is {@code valueAt(index)} (the index array is reused). */
    static NdArray build(int[] shape, ToDoubleFunction<int[]> valueAt) {
        double[] out = new double[numel(shape)];
        int[] idx = new int[shape.length];
        for (int e = 0; e < out.length; e++) {
            out[e] = valueAt.applyAsDouble(idx);
            for (int d = shape.length - 1; d >= 0; d--) { if (++idx[d] < shape[d]) break; idx[d] = 0; }
        }
        return new NdArray(shape, out);
    }

    /** This array's element at the trailing dims of a broadcast output index (size-1 dims repeat). */
    double broadcastGet(int[] outIndex) {
        int lead = outIndex.length - shape.length, at = 0;
        for (int d = 0; d < shape.length; d++) at = at * shape[d] + (shape[d] == 1 ? 0 : outIndex[lead + d]);
        return data[at];
    }

    static int[] broadcastShape(int[] a, int[] b) {
        int n = Math.max(a.length, b.length);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            int da = i < n - a.length ? 1 : a[i - (n - a.length)], db = i < n - b.length ? 1 : b[i - (n - b.length)];
            if (da != db && da != 1 && db != 1)
                throw new IllegalArgumentException("cannot broadcast " + Arrays.toString(a) + " and " + Arrays.toString(b));
            out[i] = da == 1 ? db : da;
        }
        return out;
    }

    // ------------------------------------------------------------ element-wise

    NdArray map(DoubleUnaryOperator f) {
        double[] out = new double[data.length];
        for (int i = 0; i < out.length; i++) out[i] = f.applyAsDouble(data[i]);
        return new NdArray(shape, out);
    }

    NdArray zip(NdArray o, DoubleBinaryOperator f) {
        return build(broadcastShape(shape, o.shape), idx -> f.applyAsDouble(broadcastGet(idx), o.broadcastGet(idx)));
    }

    NdArray add(NdArray o) { return zip(o, Double::sum); }
    NdArray sub(NdArray o) { return zip(o, (a, b) -> a - b); }
    NdArray mul(NdArray o) { return zip(o, (a, b) -> a * b); }
    NdArray div(NdArray o) { return zip(o, (a, b) -> a / b); }
    NdArray maximum(NdArray o) { return zip(o, Math::max); }
    NdArray minimum(NdArray o) { return zip(o, Math::min); }

    NdArray add(double s) { return map(x -> x + s); }
    NdArray sub(double s) { return map(x -> x - s); }
    NdArray mul(double s) { return map(x -> x * s); }
    NdArray div(double s) { return map(x -> x / s); }
    NdArray neg() { return map(x -> -x); }
    NdArray exp() { return map(Math::exp); }
    NdArray log() { return map(Math::log); }
    NdArray sqrt() { return map(Math::sqrt); }
    NdArray rsqrt() { return map(x -> 1 / Math.sqrt(x)); }
    NdArray reciprocal() { return map(x -> 1 / x); }
    NdArray square() { return map(x -> x * x); }
    NdArray pow(double p) { return map(x -> Math.pow(x, p)); }
    NdArray tanh() { return map(Math::tanh); }
    NdArray sigmoid() { return map(NdArray::sigmoid); }
    NdArray silu() { return map(x -> x * sigmoid(x)); }
    NdArray abs() { return map(Math::abs); }
    NdArray clamp(double lo, double hi) { return map(x -> Math.min(Math.max(x, lo), hi)); }
    /** Round half to even, as the tensor op. */
    NdArray round() { return map(Math::rint); }

    static double sigmoid(double x) { return 1 / (1 + Math.exp(-x)); }

    // ------------------------------------------------------------ matmul

    /** [..., m, k]·[..., k, n] with the batch dims broadcast. */
    NdArray matmul(NdArray b) {
        int m = shape[dim() - 2], k = shape[dim() - 1], n = b.shape[b.dim() - 1];
        if (b.shape[b.dim() - 2] != k) throw new IllegalArgumentException("matmul " + Arrays.toString(shape) + " " + Arrays.toString(b.shape));
        int[] batch = broadcastShape(Arrays.copyOf(shape, dim() - 2), Arrays.copyOf(b.shape, b.dim() - 2));
        int[] out = Arrays.copyOf(batch, batch.length + 2);
        out[batch.length] = m;
        out[batch.length + 1] = n;
        return build(out, idx -> {
            int[] ai = idx.clone(), bi = idx.clone();
            double s = 0;
            for (int p = 0; p < k; p++) {
                ai[batch.length + 1] = p;
                bi[batch.length] = p;
                s += broadcastGet(ai) * b.broadcastGet(bi);
            }
            return s;
        });
    }

    // ------------------------------------------------------------ reductions and normalisations along an axis

    /** The values along {@code axis} through the position {@code idx} (idx[axis] is ignored). */
    double[] line(int axis, int[] idx) {
        int[] at = idx.clone();
        double[] out = new double[shape[axis]];
        for (int j = 0; j < out.length; j++) {
            at[axis] = j;
            out[j] = get(at);
        }
        return out;
    }

    NdArray reduce(int axis, boolean keepDim, ToDoubleFunction<double[]> f) {
        int a = axis(axis);
        int[] kept = shape.clone();
        kept[a] = 1;
        NdArray r = build(kept, idx -> f.applyAsDouble(line(a, idx)));
        return keepDim ? r : r.squeeze(a);
    }

    NdArray sum(int axis, boolean keepDim) { return reduce(axis, keepDim, NdArray::sum); }
    NdArray mean(int axis, boolean keepDim) { return reduce(axis, keepDim, v -> sum(v) / v.length); }
    NdArray max(int axis, boolean keepDim) { return reduce(axis, keepDim, v -> Arrays.stream(v).max().orElseThrow()); }
    NdArray min(int axis, boolean keepDim) { return reduce(axis, keepDim, v -> Arrays.stream(v).min().orElseThrow()); }
    NdArray logsumexp(int axis, boolean keepDim) { return reduce(axis, keepDim, NdArray::logsumexp); }

    /** Σ (x − mean)² / (n − 1 if unbiased else n). */
    NdArray var(int axis, boolean keepDim, boolean unbiased) {
        return reduce(axis, keepDim, v -> {
            double mean = sum(v) / v.length, s = 0;
            for (double x : v) s += (x - mean) * (x - mean);
            return s / (unbiased ? v.length - 1 : v.length);
        });
    }

    /** The sum of all elements, as a 0-dim array. */
    NdArray sum() { return scalar(sum(data)); }
    NdArray mean() { return scalar(sum(data) / data.length); }

    static double sum(double[] v) {
        double s = 0;
        for (double x : v) s += x;
        return s;
    }

    static double logsumexp(double[] v) {
        double m = Arrays.stream(v).max().orElseThrow(), s = 0;
        for (double x : v) s += Math.exp(x - m);
        return m + Math.log(s);
    }

    NdArray logSoftmax(int axis) {
        int a = axis(axis);
        return build(shape, idx -> get(idx) - logsumexp(line(a, idx)));
    }

    NdArray softmax(int axis) { return logSoftmax(axis).exp(); }

    /** x / sqrt(mean(x²) + eps) · w over the last dim (Zhang & Sennrich 2019, eq. 4). */
    NdArray rmsNorm(NdArray w, double eps) {
        int last = dim() - 1;
        return build(shape, idx -> {
            double ms = 0;
            for (double x : line(last, idx)) ms += x * x;
            ms /= shape[last];
            return get(idx) / Math.sqrt(ms + eps) * w.data[idx[last]];
        });
    }

    /**
     * RoPE on [..., T, H, D]: features (2i, 2i+1) (interleaved) or (i, i + D/2) (half) of token t are rotated by
     * the angle positions[t]·invFreq[i]: (a, b) → (a cos − b sin, a sin + b cos) (RoFormer eq. 34).
     */
    NdArray rope(double[] invFreq, boolean interleaved, int[] positions) {
        int d = shape[dim() - 1], half = d / 2, tAxis = dim() - 3;
        return build(shape, idx -> {
            int j = idx[dim() - 1];
            int pair = interleaved ? j / 2 : j % half;
            boolean first = interleaved ? j % 2 == 0 : j < half;
            int partner = interleaved ? (first ? j + 1 : j - 1) : (first ? j + half : j - half);
            double angle = positions[idx[tAxis]] * invFreq[pair], c = Math.cos(angle), s = Math.sin(angle);
            int[] other = idx.clone();
            other[dim() - 1] = partner;
            double self = get(idx), mate = get(other);
            return first ? self * c - mate * s : mate * s + self * c;
        });
    }

    // ------------------------------------------------------------ shape changes (copies)

    NdArray reshape(int... newShape) {
        int[] s = newShape.clone();
        int known = 1, infer = -1;
        for (int i = 0; i < s.length; i++) if (s[i] == -1) infer = i; else known *= s[i];
        if (infer >= 0) s[infer] = data.length / known;
        return new NdArray(s, data.clone());
    }

    /** Result dim i is this array's dim order[i]. */
    NdArray permute(int... order) {
        int[] s = new int[order.length];
        for (int i = 0; i < order.length; i++) s[i] = shape[axis(order[i])];
        return build(s, idx -> {
            int[] src = new int[shape.length];
            for (int i = 0; i < order.length; i++) src[axis(order[i])] = idx[i];
            return get(src);
        });
    }

    NdArray transpose(int a, int b) {
        int[] order = new int[dim()];
        for (int i = 0; i < order.length; i++) order[i] = i;
        order[axis(a)] = axis(b);
        order[axis(b)] = axis(a);
        return permute(order);
    }

    NdArray t() { return transpose(-2, -1); }

    NdArray slice(int axis, int start, int end, int step) {
        int a = axis(axis);
        int[] s = shape.clone();
        s[a] = (end - start + step - 1) / step;
        return build(s, idx -> {
            int[] src = idx.clone();
            src[a] = start + idx[a] * step;
            return get(src);
        });
    }

    NdArray narrow(int axis, int start, int length) { return slice(axis, start, start + length, 1); }

    NdArray select(int axis, int index) { return slice(axis, index, index + 1, 1).squeeze(axis); }

    /** A size-1 dim at {@code axis} of the result. */
    NdArray unsqueeze(int axis) {
        int a = axis < 0 ? axis + dim() + 1 : axis;
        int[] s = new int[dim() + 1];
        for (int i = 0, j = 0; i < s.length; i++) s[i] = i == a ? 1 : shape[j++];
        return new NdArray(s, data.clone());
    }

    NdArray squeeze(int axis) {
        int a = axis(axis);
        if (shape[a] != 1) throw new IllegalArgumentException("squeeze " + a + " of " + Arrays.toString(shape));
        int[] s = new int[dim() - 1];
        for (int i = 0, j = 0; i < shape.length; i++) if (i != a) s[j++] = shape[i];
        return new NdArray(s, data.clone());
    }

    NdArray expand(int... newShape) {
        if (!Arrays.equals(broadcastShape(shape, newShape), newShape))
            throw new IllegalArgumentException("expand " + Arrays.toString(shape) + " to " + Arrays.toString(newShape));
        return build(newShape, this::broadcastGet);
    }

    static NdArray concat(int axis, NdArray... xs) {
        int a = xs[0].axis(axis);
        int[] s = xs[0].shape.clone();
        s[a] = 0;
        for (NdArray x : xs) s[a] += x.shape[a];
        return build(s, idx -> {
            int[] src = idx.clone();
            for (NdArray x : xs) {
                if (src[a] < x.shape[a]) return x.get(src);
                src[a] -= x.shape[a];
            }
            throw new AssertionError();
        });
    }

    static NdArray stack(int axis, NdArray... xs) {
        NdArray[] u = new NdArray[xs.length];
        for (int i = 0; i < xs.length; i++) u[i] = xs[i].unsqueeze(axis);
        return concat(axis, u);
    }

    // ------------------------------------------------------------ indexing

    /** out[..i..] = this[.. index[..i..] ..] along {@code axis} (torch.gather); index has this array's rank. */
    NdArray gather(int axis, int[] index, int[] indexShape) {
        int a = axis(axis);
        return build(indexShape, idx -> {
            int[] src = idx.clone();
            src[a] = index[ravel(idx, indexShape)];
            return get(src);
        });
    }

    /** The slices at {@code indices} along {@code axis}. */
    NdArray indexSelect(int axis, int[] indices) {
        int a = axis(axis);
        int[] s = shape.clone();
        s[a] = indices.length;
        return build(s, idx -> {
            int[] src = idx.clone();
            src[a] = indices[idx[a]];
            return get(src);
        });
    }

    /** Rows of this [rows, d] table at ids of shape {@code idsShape}: shape idsShape + [d]. */
    NdArray embedding(int[] ids, int[] idsShape) {
        int d = shape[1];
        return indexSelect(0, ids).reshape(concatShape(idsShape, d));
    }

    private static int[] concatShape(int[] s, int last) {
        int[] out = Arrays.copyOf(s, s.length + 1);
        out[s.length] = last;
        return out;
    }
}
