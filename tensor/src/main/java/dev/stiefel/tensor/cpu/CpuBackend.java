package dev.stiefel.tensor.cpu;

import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.FloatStorage;
import dev.stiefel.tensor.HalfStorage;
import dev.stiefel.tensor.IntStorage;
import dev.stiefel.tensor.MappedStorage;
import dev.stiefel.tensor.Int8Storage;
import dev.stiefel.tensor.PackedStorage;
import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Storage;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backend;
import dev.stiefel.tensor.backend.BinaryOp;
import dev.stiefel.tensor.backend.ReduceOp;
import dev.stiefel.tensor.backend.UnaryOp;
import dev.stiefel.tensor.packed.Int8Gemm;
import dev.stiefel.tensor.packed.Int8Rows;
import dev.stiefel.tensor.packed.PackedGemv;
import dev.stiefel.tensor.packed.PackedMatrix;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The built-in backend: Vector API kernels on the shared fork-join pool ({@link Parallel}). Non-f32 inputs
 * (f16, bf16, memory-mapped) are widened to a heap f32 copy first, except the B operand of a matmul, which
 * the gemm kernel packs straight from a mapped f32 file.
 */
public final class CpuBackend implements Backend {
    public static final String NAME = "cpu";
    public static final CpuBackend INSTANCE = new CpuBackend();

    private static final ValueLayout.OfFloat LE_F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private CpuBackend() {}

    /**
     * Fewest elements per task when an element-wise or row-wise op is split over threads. Waking a pool worker
     * costs tens of microseconds on the KVM guest these were measured on, about what one core needs for 10^5
     * elements: with 2^14 per task a [256, 512] RMSNorm ran slower on two threads than on one, and the LLaMA
     * block of BlockBench took 19 ms instead of 17.
     */
    static final int PARALLEL_ELEMENTS = 1 << 17;

    @Override public String name() { return NAME; }

    /** {@code t} itself when its storage is a heap f32 array (any strides), else a contiguous f32 copy. */
    static Tensor f32(Tensor t) { return t.storage() instanceof FloatStorage ? t : t.to(DType.F32); }

    static float[] data(Tensor t) { return ((FloatStorage) t.storage()).data(); }

    // ------------------------------------------------------------ element-wise

    @Override public Tensor unary(UnaryOp op, Tensor x, float p0, float p1) {
        Tensor in = f32(x);
        Tensor out = Tensor.zeros(x.shape());
        float[] xd = data(in), od = data(out);
        Loop loop = new Loop(x.shape(), new int[]{0, in.offset()}, out.strides(), in.strides());
        int sx = loop.innerStride[1];
        loop.run(Parallel.threads(), (off, n) -> {
            if (sx == 1) {
                ElementwiseKernels.unary(op, xd, off[1], od, off[0], n, p0, p1);
            } else { // gather the strided run, then the same vector kernel
                gather(xd, off[1], sx, od, off[0], n);
                ElementwiseKernels.unary(op, od, off[0], od, off[0], n, p0, p1);
            }
        });
        return out;
    }

    @Override public Tensor binary(BinaryOp op, Tensor a, Tensor b, int[] outShape) {
        Tensor ea = f32(a).expand(outShape), eb = f32(b).expand(outShape);
        Tensor out = Tensor.zeros(outShape);
        float[] ad = data(ea), bd = data(eb), od = data(out);
        Loop loop = new Loop(outShape, new int[]{0, ea.offset(), eb.offset()}, out.strides(), ea.strides(), eb.strides());
        int sa = loop.innerStride[1], sb = loop.innerStride[2];
        loop.run(Parallel.threads(), (off, n) -> {
            if ((sa == 1 || sa == 0) && (sb == 1 || sb == 0) && sa + sb > 0) {
                ElementwiseKernels.binary(op, ad, off[1], sa, bd, off[2], sb, od, off[0], n);
            } else { // strided (or both broadcast): gather both runs into per-thread scratch rows, then the same loop
                float[][] t = scratch.get();
                if (t[0].length < n) t[0] = new float[n];
                if (t[1].length < n) t[1] = new float[n];
                gather(ad, off[1], sa, t[0], 0, n);
                gather(bd, off[2], sb, t[1], 0, n);
                ElementwiseKernels.binary(op, t[0], 0, 1, t[1], 0, 1, od, off[0], n);
            }
        });
        return out;
    }

    /** Per-thread rows for gathering strided operands, grown on demand, so a strided binary op allocates nothing per run. */
    private static final ThreadLocal<float[][]> scratch = ThreadLocal.withInitial(() -> new float[][]{new float[0], new float[0]});

    private static void gather(float[] src, int so, int stride, float[] dst, int dof, int n) {
        for (int i = 0; i < n; i++) dst[dof + i] = src[so + i * stride];
    }

    // ------------------------------------------------------------ reductions

    @Override public Tensor reduce(ReduceOp op, Tensor x, int axis, boolean keepDim) {
        int[] shape = x.shape();
        int outer = Shape.prod(shape, 0, axis), r = shape[axis], inner = Shape.prod(shape, axis + 1, shape.length);
        int[] outShape = keepDim ? Shape.with(shape, axis, 1) : Shape.without(shape, axis);
        boolean arg = op == ReduceOp.ARGMAX || op == ReduceOp.ARGMIN;
        Tensor out = Tensor.empty(arg ? DType.I32 : DType.F32, outShape);
        if (outer * inner == 0) return out;
        Tensor in = f32(x).contiguous();
        float[] xd = data(in);
        int base = in.offset();
        float[] of = arg ? null : data(out);
        int[] oi = arg ? ((IntStorage) out.storage()).data() : null;

        if (inner == 1) { // each output reduces one contiguous row of r elements
            Parallel.forRange(outer, Math.max(1, PARALLEL_ELEMENTS / Math.max(1, r)), (from, to) -> {
                for (int o = from; o < to; o++) {
                    int at = base + o * r;
                    if (arg) oi[o] = argExtreme(xd, at, 1, r, op == ReduceOp.ARGMAX);
                    else of[o] = reduceRow(op, xd, at, r);
                }
            });
            return out;
        }
        // reduce r rows of `inner` contiguous elements into one row, in chunks so both outer and inner split
        final int chunk = 1024;
        int chunks = (inner + chunk - 1) / chunk;
        Parallel.forRange(outer * chunks, Math.max(1, PARALLEL_ELEMENTS / (r * Math.min(inner, chunk))), (from, to) -> {
            for (int task = from; task < to; task++) {
                int o = task / chunks, c0 = (task % chunks) * chunk, len = Math.min(chunk, inner - c0);
                int at = base + o * r * inner + c0, dst = o * inner + c0;
                if (arg) {
                    for (int i = 0; i < len; i++) oi[dst + i] = argExtreme(xd, at + i, inner, r, op == ReduceOp.ARGMAX);
                } else {
                    reduceColumns(op, xd, at, inner, r, len, of, dst);
                }
            }
        });
        return out;
    }

    private static float reduceRow(ReduceOp op, float[] x, int at, int r) {
        return switch (op) {
            case SUM -> (float) VectorKernels.sum(x, at, r);
            case MEAN -> (float) (VectorKernels.sum(x, at, r) / r);
            case MAX -> VectorKernels.max(x, at, r);
            case MIN -> VectorKernels.min(x, at, r);
            case VAR -> {
                double mean = VectorKernels.sum(x, at, r) / r;
                yield (float) (VectorKernels.sumSquaredDeviations(x, at, r, mean) / r);
            }
            case LOGSUMEXP -> {
                float m = VectorKernels.max(x, at, r);
                if (Float.isInfinite(m) || Float.isNaN(m)) yield m; // all -inf → -inf; any +inf → +inf; NaN stays
                yield (float) (Math.log(VectorKernels.expShiftedSum(x, at, m, null, 0, r)) + m);
            }
            case ARGMAX, ARGMIN -> throw new AssertionError(op);
        };
    }

    /** r rows of len elements (row stride {@code stride}) reduced column-wise into out[dst..dst+len). */
    private static void reduceColumns(ReduceOp op, float[] x, int at, int stride, int r, int len, float[] out, int dst) {
        switch (op) {
            case SUM, MEAN, VAR -> {
                double[] acc = new double[len];
                for (int j = 0; j < r; j++) {
                    int row = at + j * stride;
                    for (int i = 0; i < len; i++) acc[i] += x[row + i];
                }
                if (op == ReduceOp.VAR) {
                    double[] dev = new double[len];
                    for (int j = 0; j < r; j++) {
                        int row = at + j * stride;
                        for (int i = 0; i < len; i++) {
                            double d = x[row + i] - acc[i] / r;
                            dev[i] += d * d;
                        }
                    }
                    acc = dev;
                }
                double div = op == ReduceOp.SUM ? 1 : r;
                for (int i = 0; i < len; i++) out[dst + i] = (float) (acc[i] / div);
            }
            case MAX, MIN, LOGSUMEXP -> {
                boolean isMin = op == ReduceOp.MIN;
                float[] m = Arrays.copyOfRange(x, at, at + len);
                for (int j = 1; j < r; j++) {
                    int row = at + j * stride;
                    for (int i = 0; i < len; i++) m[i] = isMin ? Math.min(m[i], x[row + i]) : Math.max(m[i], x[row + i]);
                }
                if (op == ReduceOp.LOGSUMEXP) {
                    double[] s = new double[len];
                    for (int j = 0; j < r; j++) {
                        int row = at + j * stride;
                        for (int i = 0; i < len; i++) s[i] += Math.exp(x[row + i] - m[i]);
                    }
                    for (int i = 0; i < len; i++)
                        out[dst + i] = Float.isInfinite(m[i]) || Float.isNaN(m[i]) ? m[i] : (float) (Math.log(s[i]) + m[i]);
                } else {
                    System.arraycopy(m, 0, out, dst, len);
                }
            }
            case ARGMAX, ARGMIN -> throw new AssertionError(op);
        }
    }

    /** Index of the first maximum (or minimum) of r elements at the given stride; NaN counts as the extreme. */
    private static int argExtreme(float[] x, int at, int stride, int r, boolean max) {
        int best = 0;
        float bv = x[at];
        if (Float.isNaN(bv)) return 0;
        for (int j = 1; j < r; j++) {
            float v = x[at + j * stride];
            if (Float.isNaN(v)) return j;
            if (max ? v > bv : v < bv) { bv = v; best = j; }
        }
        return best;
    }

    // ------------------------------------------------------------ softmax, RMSNorm, RoPE

    @Override public Tensor softmax(Tensor x, int axis, boolean log) {
        int last = x.dim() - 1;
        if (axis != last) return softmax(x.transpose(axis, last), last, log).transpose(axis, last).contiguous();
        Tensor in = f32(x).contiguous();
        int n = x.size(last), rows = x.numel() / Math.max(1, n);
        Tensor out = Tensor.zeros(x.shape());
        float[] xd = data(in), od = data(out);
        int base = in.offset();
        Parallel.forRange(rows, Math.max(1, PARALLEL_ELEMENTS / Math.max(1, n)), (from, to) -> {
            for (int row = from; row < to; row++) {
                int xo = base + row * n, oo = row * n;
                float m = VectorKernels.max(xd, xo, n);
                double sum = VectorKernels.expShiftedSum(xd, xo, m, od, oo, n);
                if (log) {
                    // log softmax = x − (max + log Σ exp(x − max)), the shift taken in f64
                    ElementwiseKernels.unary(UnaryOp.ADD_SCALAR, xd, xo, od, oo, n, (float) -(m + Math.log(sum)), 0);
                } else {
                    ElementwiseKernels.unary(UnaryOp.DIV_SCALAR, od, oo, od, oo, n, (float) sum, 0);
                }
            }
        });
        return out;
    }

    @Override public Tensor rmsNorm(Tensor x, Tensor weight, float eps) {
        Tensor in = f32(x).contiguous(), w = f32(weight).contiguous();
        int d = x.size(-1), rows = x.numel() / Math.max(1, d);
        Tensor out = Tensor.zeros(x.shape());
        float[] xd = data(in), wd = data(w), od = data(out);
        int base = in.offset(), wo = w.offset();
        Parallel.forRange(rows, Math.max(1, PARALLEL_ELEMENTS / Math.max(1, d)), (from, to) -> {
            for (int row = from; row < to; row++) {
                int xo = base + row * d;
                double meanSquare = VectorKernels.sumSquares(xd, xo, d) / d;
                float s = (float) (1.0 / Math.sqrt(meanSquare + eps));
                VectorKernels.scaleMul(xd, xo, s, wd, wo, od, row * d, d);
            }
        });
        return out;
    }

    // ------------------------------------------------------------ fused ops and gradients

    @Override public Tensor swiglu(Tensor gate, Tensor up) {
        Tensor a = f32(gate).contiguous(), u = f32(up).contiguous();
        Tensor out = Tensor.zeros(gate.shape());
        float[] ad = data(a), ud = data(u), od = data(out);
        int ao = a.offset(), uo = u.offset();
        Parallel.forRange(out.numel(), PARALLEL_ELEMENTS, (from, to) -> VectorKernels.swiglu(ad, ao + from, ud, uo + from, od, from, to - from));
        return out;
    }

    @Override public Tensor[] swigluBackward(Tensor gate, Tensor up, Tensor gradOut) {
        Tensor a = f32(gate).contiguous(), u = up == null ? null : f32(up).contiguous(), g = f32(gradOut).contiguous();
        Tensor dGate = Tensor.zeros(gate.shape()), dUp = up == null ? null : Tensor.zeros(gate.shape());
        float[] ad = data(a), ud = u == null ? null : data(u), gd = data(g), dad = data(dGate), dud = dUp == null ? null : data(dUp);
        int ao = a.offset(), uo = u == null ? 0 : u.offset(), go = g.offset();
        Parallel.forRange(dGate.numel(), PARALLEL_ELEMENTS, (from, to) -> {
            if (ud == null) VectorKernels.siluBackward(ad, ao + from, gd, go + from, dad, from, to - from);
            else VectorKernels.swigluBackward(ad, ao + from, ud, uo + from, gd, go + from, dad, dud, from, to - from);
        });
        return new Tensor[]{dGate, dUp};
    }

    @Override public Tensor softmaxBackward(Tensor y, Tensor gradOut, int axis) {
        int last = y.dim() - 1;
        if (axis != last)
            return softmaxBackward(y.transpose(axis, last), gradOut.transpose(axis, last), last).transpose(axis, last).contiguous();
        Tensor yc = f32(y).contiguous(), gc = f32(gradOut).contiguous();
        int n = y.size(last), rows = y.numel() / Math.max(1, n);
        Tensor out = Tensor.zeros(y.shape());
        float[] yd = data(yc), gd = data(gc), od = data(out);
        int yo = yc.offset(), go = gc.offset();
        Parallel.forRange(rows, Math.max(1, PARALLEL_ELEMENTS / Math.max(1, n)), (from, to) -> {
            for (int row = from; row < to; row++)
                VectorKernels.softmaxBackwardRow(yd, yo + row * n, gd, go + row * n, od, row * n, n, 1f);
        });
        return out;
    }

    @Override public Tensor[] rmsNormBackward(Tensor x, Tensor weight, float eps, Tensor gradOut) {
        Tensor xc = f32(x).contiguous(), w = f32(weight).contiguous(), g = f32(gradOut).contiguous();
        int d = x.size(-1), rows = x.numel() / Math.max(1, d);
        Tensor dx = Tensor.zeros(x.shape()), dw = Tensor.zeros(d);
        float[] xd = data(xc), wd = data(w), gd = data(g), dxd = data(dx), dwd = data(dw);
        int xo = xc.offset(), wo = w.offset(), go = g.offset();
        // the weight's gradient sums over rows: each fixed block of rows sums into its own partial row, and the
        // partials are added in block order, so the result does not depend on how many threads ran
        int perBlock = Math.max(1, (1 << 14) / Math.max(1, d)), blocks = (rows + perBlock - 1) / perBlock;
        float[][] partial = new float[blocks][];
        Parallel.forRange(blocks, Math.max(1, PARALLEL_ELEMENTS / (perBlock * Math.max(1, d))), (from, to) -> {
            for (int b = from; b < to; b++) {
                float[] acc = new float[d];
                for (int row = b * perBlock, end = Math.min(rows, row + perBlock); row < end; row++)
                    VectorKernels.rmsNormBackwardRow(xd, xo + row * d, wd, wo, gd, go + row * d, dxd, row * d, acc, d, eps);
                partial[b] = acc;
            }
        });
        for (int j = 0; j < d; j++) {
            double s = 0;
            for (float[] p : partial) s += p[j];
            dwd[j] = (float) s;
        }
        return new Tensor[]{dx, dw};
    }

    @Override public Tensor[] attention(Tensor q, Tensor k, Tensor v, Tensor mask, float scale) {
        return AttentionKernel.forward(f32(q), f32(k), f32(v), mask == null ? null : f32(mask).contiguous(), scale);
    }

    @Override public Tensor[] attentionBackward(Tensor q, Tensor k, Tensor v, Tensor probs, Tensor gradOut, float scale) {
        return AttentionKernel.backward(f32(q), f32(k), f32(v), f32(probs).contiguous(), f32(gradOut), scale);
    }

    @Override public Tensor rope(Tensor x, int[] positions, double[] invFreq, boolean interleaved) {
        int[] s = x.shape();
        int nd = s.length, t = s[nd - 3], h = s[nd - 2], dim = s[nd - 1];
        Tensor in = f32(x);
        if (in.strides()[nd - 1] != 1) in = in.contiguous();
        RopeTables.Table tab = RopeTables.of(positions, invFreq, interleaved);
        Tensor out = Tensor.zeros(s);
        float[] xd = data(in), od = data(out), cos = tab.cos(), sin = tab.sin();
        int[] st = in.strides();
        int base = in.offset(), rows = x.numel() / Math.max(1, dim), tableRow = tab.rowLength();
        Parallel.forRange(rows, Math.max(1, PARALLEL_ELEMENTS / Math.max(1, dim)), (from, to) -> {
            for (int row = from; row < to; row++) {
                // storage offset of row (.., ti, hh): peel the row index into the indices of the dims before the last
                int rest = row, xo = base;
                for (int d = nd - 2; d >= 0; d--) {
                    xo += (rest % s[d]) * st[d];
                    rest /= s[d];
                }
                int ti = (row / h) % t;
                if (interleaved) VectorKernels.ropeInterleavedRow(xd, xo, cos, sin, ti * tableRow, od, row * dim, dim);
                else VectorKernels.ropeHalfRow(xd, xo, cos, sin, ti * tableRow, od, row * dim, dim / 2);
            }
        });
        return out;
    }

    // ------------------------------------------------------------ matmul

    @Override public Tensor matmul(Tensor a, Tensor b, int[] outShape) {
        int nd = outShape.length, m = outShape[nd - 2], n = outShape[nd - 1], k = a.size(-1);
        int[] batchShape = Arrays.copyOf(outShape, nd - 2);
        int batches = Shape.prod(batchShape, 0, batchShape.length);
        Tensor out = Tensor.zeros(outShape);
        if (m * n == 0) return out;
        if (packedWeight(a, b, batches, m, n, k, data(out))) return out;
        if (halfWeightRows(a, b, batches, m, n, k, data(out))) return out;
        if (halfWeightPanels(a, b, batches, m, n, k, data(out))) return out;
        if (f32WeightPanels(a, b, batches, m, n, k, data(out))) return out;
        float[] od = data(out);
        // batch dims broadcast as views (stride 0); the last two keep their own strides
        Tensor ea = matmulOperand(a).expand(Shape.concat(batchShape, new int[]{m, k}));
        Tensor eb = matmulOperand(b).expand(Shape.concat(batchShape, new int[]{k, n}));
        int[] ast = ea.strides(), bst = eb.strides();
        long work = (long) m * n * k;
        // Sgemm runs one product on one thread below PARALLEL_MIN; a batch of such products (attention heads)
        // is split across threads by batch instead, so both kinds of product use every core
        boolean splitBatches = batches > 1 && work < Sgemm.PARALLEL_MIN;
        int threads = splitBatches ? 1 : Parallel.threads();
        Parallel.forRange(batches, splitBatches ? Parallel.threads() : 1, 1, (from, to) -> {
            int[] idx = new int[batchShape.length];
            for (int bi = from; bi < to; bi++) {
                int rest = bi;
                long aOff = ea.offset(), bOff = eb.offset();
                for (int d = batchShape.length - 1; d >= 0; d--) {
                    idx[d] = rest % batchShape[d];
                    rest /= batchShape[d];
                    aOff += (long) idx[d] * ast[d];
                    bOff += (long) idx[d] * bst[d];
                }
                StridedMatrix am = matrix(ea, aOff, m, k, ast[nd - 2], ast[nd - 1]);
                StridedMatrix bm = matrix(eb, bOff, k, n, bst[nd - 2], bst[nd - 1]);
                Sgemm.gemm(am, bm, od, bi * m * n, n, false, threads);
            }
        });
        return out;
    }

    /**
     * Rows against a packed low-bit weight used as x·Wᵀ (B = Wᵀ, a transposed view of a whole {@link PackedStorage}):
     * {@link Int8Gemm} when a few rows are quantized activations ({@link Int8Storage}), else {@link PackedGemv#gemm},
     * which is the packed gemv for one row (decode) and Sgemm over codes decoded into its panels for more (prefill).
     * W is never widened whole. False when the operands are not of that shape.
     */
    /** Most rows of quantized activations multiplied by integer dot products (measured on TinyLlama W4A8 before the chunked 4-bit gemv: decode 1.4× the f32 path, prefill 0.5×). */
    private static final int INT8_ROWS = 8;

    private static boolean packedWeight(Tensor a, Tensor b, int batches, int m, int n, int k, float[] out) {
        if (batches != 1 || b.dim() != 2 || !(b.storage() instanceof PackedStorage ps)) return false;
        PackedMatrix w = ps.matrix();
        int[] bst = b.strides();
        if (b.offset() != 0 || w.rows() != n || w.cols() != k || (bst[0] != 1 && k > 1) || (bst[1] != k && n > 1)) return false;
        // quantized activations, a few tokens (decode): integer dot products; a prompt's worth goes through the blocked
        // product below on their f32 values (the same numbers), which Int8Gemm's row-at-a-time loop cannot match
        // (one token against 4-bit or grouped 8-bit codes is faster through the chunked f32 gemv, on the same f32 values)
        if (m <= INT8_ROWS && !(m == 1 && PackedGemv.chunked(w)) && a.storage() instanceof Int8Storage is && a.offset() == 0 && a.isContiguous()
                && is.rows().rows() == m && is.rows().cols() == k) {
            Int8Gemm.gemm(is.rows(), w, out, 0, Parallel.threads());
            return true;
        }
        Tensor ac = f32(a).reshape(m, k).contiguous();
        PackedGemv.gemm(data(ac), ac.offset(), m, w, out, 0, Parallel.threads());
        return true;
    }

    /**
     * A few rows against a 16-bit weight used as x·Wᵀ (B = Wᵀ, so B's rows are W's contiguous columns): the decode
     * step of a half-precision linear layer, computed by {@link HalfGemv} without widening W. False when the
     * operands are not of that shape.
     */
    private static boolean halfWeightRows(Tensor a, Tensor b, int batches, int m, int n, int k, float[] out) {
        Storage s = b.storage();
        DType dt = b.dtype();
        if (batches != 1 || m > HalfGemv.MAX_ROWS || b.dim() != 2 || (dt != DType.BF16 && dt != DType.F16)) return false;
        if (!(s instanceof HalfStorage || s instanceof MappedStorage)) return false;
        int[] bst = b.strides();
        if (bst[0] != 1 && k > 1) return false;
        Tensor ac = f32(a).reshape(m, k).contiguous();
        short[] heap = s instanceof HalfStorage hs ? hs.bits() : null;
        MemorySegment seg = s instanceof MappedStorage ms ? ms.segment() : null;
        HalfGemv.run(data(ac), ac.offset(), m, k, heap, seg, b.offset(), bst[1], dt, n, out, 0, Parallel.threads());
        return true;
    }

    /**
     * More rows against a 16-bit weight used as x·Wᵀ (prefill): Wᵀ·... computed as C' = W·Xᵀ by {@link Sgemm} with W
     * as the A operand, widened one k slice of 14 rows at a time into the packed A panels ({@link HalfGemv.Rows}), so
     * W is never widened whole; C' [n, m] is then transposed into the output. False when the operands are not of
     * that shape.
     */
    private static boolean halfWeightPanels(Tensor a, Tensor b, int batches, int m, int n, int k, float[] out) {
        Storage s = b.storage();
        DType dt = b.dtype();
        if (batches != 1 || b.dim() != 2 || (dt != DType.BF16 && dt != DType.F16)) return false;
        if (!(s instanceof HalfStorage || s instanceof MappedStorage)) return false;
        int[] bst = b.strides();
        if (bst[0] != 1 && k > 1) return false;
        Tensor ac = f32(a).reshape(m, k).contiguous();
        MemorySegment w = s instanceof HalfStorage hs ? MemorySegment.ofArray(hs.bits()) : ((MappedStorage) s).segment();
        Sgemm.linearRows(null, new HalfGemv.Rows(w, b.offset(), bst[1], n, k, dt == DType.BF16), data(ac), ac.offset(), m, out, 0, Parallel.threads());
        return true;
    }

    /**
     * Several rows against an f32 weight used as x·Wᵀ (prefill): C' = W·Xᵀ with W as Sgemm's A operand, whose rows are
     * W's contiguous rows (packed by a straight copy), instead of B = Wᵀ, whose panels would be gathered element by
     * element across W's rows: the gather cost as much as the product for a 128-token prompt. Every element of C is the
     * same sequence of fused multiply-adds over k in either orientation of the blocked product (the k slices and the
     * micro-kernel's order do not depend on which operand is A), so the result is the same bits; it is taken only where
     * both orientations are blocked products (neither side among Sgemm's few-row or small cases, which sum otherwise).
     * False when not of that shape.
     */
    private static boolean f32WeightPanels(Tensor a, Tensor b, int batches, int m, int n, int k, float[] out) {
        Storage s = b.storage();
        if (batches != 1 || b.dim() != 2 || b.dtype() != DType.F32) return false;
        if (m <= Sgemm.FEW_ROWS || n <= Sgemm.FEW_ROWS || (long) m * n * k <= Sgemm.SMALL) return false;
        if (!(s instanceof FloatStorage || s instanceof MappedStorage)) return false;
        int[] bst = b.strides();
        if ((bst[0] != 1 && k > 1) || (bst[1] != k && n > 1)) return false;
        Tensor ac = f32(a).reshape(m, k).contiguous();
        StridedMatrix w = s instanceof FloatStorage fs ? StridedMatrix.of(fs.data(), b.offset(), n, k, k, 1)
                : StridedMatrix.of(((MappedStorage) s).segment(), b.offset(), n, k, k, 1);
        Sgemm.linearRows(w, null, data(ac), ac.offset(), m, out, 0, Parallel.threads());
        return true;
    }

    /** Heap f32 and mapped f32 go to the kernel as they are; f16/bf16 are widened first. */
    private static Tensor matmulOperand(Tensor t) {
        Storage s = t.storage();
        return s instanceof FloatStorage || s instanceof MappedStorage ms && ms.dtype() == DType.F32 ? t : t.to(DType.F32);
    }

    private static StridedMatrix matrix(Tensor t, long offset, int rows, int cols, int rowStride, int colStride) {
        return t.storage() instanceof FloatStorage fs
                ? StridedMatrix.of(fs.data(), offset, rows, cols, rowStride, colStride)
                : StridedMatrix.of(((MappedStorage) t.storage()).segment(), offset, rows, cols, rowStride, colStride);
    }

    // ------------------------------------------------------------ indexing

    @Override public Tensor indexSelect(Tensor x, int axis, int[] indices) {
        Tensor out = Tensor.empty(x.dtype(), Shape.with(x.shape(), axis, indices.length));
        for (int i = 0; i < indices.length; i++) copy(x.select(axis, indices[i]), out.select(axis, i));
        return out;
    }

    @Override public Tensor gather(Tensor x, int axis, Tensor index) {
        x = x.toHost();
        int[] shape = index.shape();
        Tensor out = Tensor.empty(x.dtype(), shape);
        int[] idx = index.contiguous().toIntArray();
        int[] xs = x.strides();
        int nd = shape.length, n = out.numel();
        Storage src = x.storage(), dst = out.storage();
        int[] pos = new int[nd];
        for (int e = 0; e < n; e++) {
            int at = x.offset();
            for (int d = 0; d < nd; d++) at += (d == axis ? idx[e] : pos[d]) * xs[d];
            if (src instanceof IntStorage si) ((IntStorage) dst).data()[e] = si.getInt(at);
            else dst.setFloat(e, src.getFloat(at));
            for (int d = nd - 1; d >= 0; d--) { if (++pos[d] < shape[d]) break; pos[d] = 0; }
        }
        return out;
    }

    @Override public Tensor.TopK topk(Tensor x, int k) {
        Tensor in = f32(x).contiguous();
        int n = x.size(-1), rows = x.numel() / n;
        int[] outShape = Shape.with(x.shape(), x.dim() - 1, k);
        Tensor values = Tensor.zeros(outShape), indices = Tensor.empty(DType.I32, outShape);
        float[] xd = data(in), vd = data(values);
        int[] id = ((IntStorage) indices.storage()).data();
        int base = in.offset();
        Parallel.forRange(rows, Math.max(1, PARALLEL_ELEMENTS / n), (from, to) -> {
            long[] keys = new long[n];
            for (int row = from; row < to; row++) {
                int xo = base + row * n;
                // one sortable long per element: high half orders by value descending, low half by index ascending
                for (int i = 0; i < n; i++) {
                    int bits = Float.floatToIntBits(xd[xo + i]);
                    int ordered = bits >= 0 ? bits : bits ^ 0x7FFFFFFF;
                    keys[i] = ((long) ~ordered << 32) | i;
                }
                Select.smallestFirst(keys, n, k);
                Arrays.sort(keys, 0, k);
                for (int j = 0; j < k; j++) {
                    int i = (int) keys[j];
                    id[row * k + j] = i;
                    vd[row * k + j] = xd[xo + i];
                }
            }
        });
        return new Tensor.TopK(values, indices);
    }

    // ------------------------------------------------------------ copies

    @Override public void copy(Tensor src, Tensor dst) {
        if (dst.isOnDevice())
            throw new IllegalArgumentException("copy: the cpu backend cannot write into a device tensor " + Shape.str(dst.shape()));
        src = src.toHost(); // a device tensor comes over in one transfer, not element by element
        Storage s = src.storage(), d = dst.storage();
        Loop loop = new Loop(src.shape(), new int[]{dst.offset(), src.offset()}, dst.strides(), src.strides());
        int ds = loop.innerStride[0], ss = loop.innerStride[1];
        if (d instanceof FloatStorage fd && s instanceof FloatStorage fs) {
            float[] out = fd.data(), in = fs.data();
            loop.run(Parallel.threads(), (off, n) -> {
                if (ds == 1 && ss == 1) System.arraycopy(in, off[1], out, off[0], n);
                else if (ds == 1 && ss == 0) Arrays.fill(out, off[0], off[0] + n, in[off[1]]); // a broadcast (expanded) source
                else for (int i = 0; i < n; i++) out[off[0] + i * ds] = in[off[1] + i * ss];
            });
        } else if (d instanceof FloatStorage fd && s instanceof MappedStorage ms && ms.dtype() == DType.F32) {
            float[] out = fd.data();
            MemorySegment seg = ms.segment();
            loop.run(Parallel.threads(), (off, n) -> {
                if (ds == 1 && ss == 1) MemorySegment.copy(seg, LE_F32, (long) off[1] * 4, out, off[0], n);
                else for (int i = 0; i < n; i++) out[off[0] + i * ds] = seg.getAtIndex(LE_F32, off[1] + (long) i * ss);
            });
        } else if (d instanceof IntStorage id && s instanceof IntStorage is) {
            int[] out = id.data(), in = is.data();
            loop.run(Parallel.threads(), (off, n) -> {
                for (int i = 0; i < n; i++) out[off[0] + i * ds] = in[off[1] + i * ss];
            });
        } else if (d instanceof HalfStorage hd && s instanceof HalfStorage hs && hd.dtype() == hs.dtype()) {
            short[] out = hd.bits(), in = hs.bits();
            loop.run(Parallel.threads(), (off, n) -> {
                for (int i = 0; i < n; i++) out[off[0] + i * ds] = in[off[1] + i * ss];
            });
        } else if (d instanceof FloatStorage fd && s instanceof PackedStorage ps && ss == 1) { // a packed weight widened: rows decoded a vector at a time
            float[] out = fd.data();
            PackedMatrix w = ps.matrix();
            int cols = w.cols();
            loop.run(Parallel.threads(), (off, n) -> {
                for (int done = 0; done < n; ) { // a run may cross rows of W
                    long at = off[1] + (long) done;
                    int r = (int) (at / cols), c = (int) (at % cols), len = Math.min(n - done, cols - c);
                    if (ds == 1) w.row(r, c, len, out, off[0] + done);
                    else for (int i = 0; i < len; i++) out[off[0] + (done + i) * ds] = w.value(r, c + i);
                    done += len;
                }
            });
        } else if (d instanceof FloatStorage fd && s instanceof Int8Storage is) { // quantized activations or K/V widened: (q − z)·s
            float[] out = fd.data();
            Int8Rows r = is.rows();
            int cols = r.cols();
            loop.run(Parallel.threads(), (off, n) -> {
                for (int i = 0; i < n; i++) {
                    long at = off[1] + (long) i * ss;
                    out[off[0] + i * ds] = r.value((int) (at / cols), (int) (at % cols));
                }
            });
        } else { // dtype conversions: widen through f32
            loop.run(Parallel.threads(), (off, n) -> {
                for (int i = 0; i < n; i++) d.setFloat(off[0] + (long) i * ds, s.getFloat(off[1] + (long) i * ss));
            });
        }
    }
}
