package dev.stiefel.opencl;

import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backend;
import dev.stiefel.tensor.backend.BinaryOp;
import dev.stiefel.tensor.backend.ReduceOp;
import dev.stiefel.tensor.backend.UnaryOp;
import dev.stiefel.tensor.cpu.CpuBackend;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every {@link Backend} op on the OpenCL backend against the CPU backend, on random inputs of odd sizes (1, 7, 33,
 * 257), given as host tensors, as device tensors, and as strided or broadcast views of device tensors. Element-wise
 * results must agree to a few f32 ulps (exp, log, tanh and pow are the device's, within OpenCL's bounds); sums and
 * products to the rounding of their summation order.
 */
class OpParityTest {
    static final int[] SIZES = {1, 7, 33, 257};
    static final CpuBackend CPU = CpuBackend.INSTANCE;
    OpenClBackend cl;
    final Random rnd = new Random(2024);

    @BeforeEach
    void device() { cl = OpenCl.backend(); }

    Tensor rand(float lo, float hi, int... shape) { return Tensor.uniform(rnd, lo, hi, shape); }

    /** The same values in three forms: host, device, and a device view reached through a transpose. */
    List<Tensor> forms(Tensor host) {
        List<Tensor> out = new ArrayList<>(List.of(host, cl.resident(host)));
        if (host.dim() >= 2) out.add(cl.resident(host.t().contiguous()).t()); // same values, transposed strides
        return out;
    }

    static void assertClose(Tensor actual, Tensor expected, double rel, double abs, String what) {
        assertThat(actual.shape()).as(what + " shape").containsExactly(expected.shape());
        assertThat(actual.dtype()).as(what + " dtype").isEqualTo(expected.dtype());
        float[] a = actual.toFloatArray(), e = expected.toFloatArray();
        double scale = 0;
        for (float v : e) if (Float.isFinite(v)) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < a.length; i++) {
            if (Float.isNaN(e[i]) || Float.isInfinite(e[i])) {
                assertThat(Float.valueOf(a[i])).as(what + " element " + i).isEqualTo(Float.valueOf(e[i])); // NaN equals NaN here
                continue;
            }
            double tol = abs + rel * Math.max(Math.abs(e[i]), 1e-3 * scale);
            assertThat((double) a[i]).as(what + " element " + i + " of " + Shape.str(actual.shape())).isCloseTo(e[i], org.assertj.core.data.Offset.offset(tol));
        }
    }

    @Test
    void unaryOps() {
        for (int n : SIZES)
            for (UnaryOp op : UnaryOp.values()) {
                boolean positive = op == UnaryOp.LOG || op == UnaryOp.SQRT || op == UnaryOp.RSQRT || op == UnaryOp.POW_SCALAR;
                Tensor x = positive ? rand(0.05f, 4, 3, n) : rand(-6, 6, 3, n);
                float p0 = op == UnaryOp.POW_SCALAR ? 1.7f : op == UnaryOp.CLAMP ? -1.5f : 0.37f, p1 = 2.5f;
                for (Tensor f : forms(x))
                    assertClose(cl.unary(op, f, p0, p1), CPU.unary(op, x, p0, p1), 4e-7, 1e-30, op + " n=" + n);
            }
        // round: halves go to even, as Math.rint
        Tensor halves = Tensor.of(new float[]{-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 1e9f, -0.3f}, 8);
        assertThat(cl.unary(UnaryOp.ROUND, halves, 0, 0).toFloatArray()).containsExactly(CPU.unary(UnaryOp.ROUND, halves, 0, 0).toFloatArray());
    }

    @Test
    void binaryOpsWithBroadcast() {
        for (int n : SIZES)
            for (BinaryOp op : BinaryOp.values()) {
                boolean pow = op == BinaryOp.POW;
                Tensor a = pow ? rand(0.1f, 3, 5, n) : rand(-3, 3, 5, n);
                Tensor b = pow ? rand(-2, 2, 1, n) : rand(-3, 3, 1, n); // broadcast along rows
                if (op.ordinal() >= BinaryOp.GT.ordinal()) b = Tensor.concat(1, a.narrow(0, 0, 1).narrow(1, 0, (n + 1) / 2), b.narrow(1, (n + 1) / 2, n / 2));
                int[] out = {5, n};
                for (Tensor fa : forms(a))
                    for (Tensor fb : List.of(b, cl.resident(b)))
                        assertClose(cl.binary(op, fa, fb, out), CPU.binary(op, a, b, out), pow ? 1e-6 : 1e-7, 1e-30, op + " n=" + n);
                Tensor s = Tensor.scalar(0.75f);
                assertClose(cl.binary(op, cl.resident(a), s, out), CPU.binary(op, a, s, out), pow ? 1e-6 : 1e-7, 1e-30, op + " by a scalar");
            }
    }

    @Test
    void reductionsAlongEveryAxis() {
        for (int n : SIZES) {
            Tensor x = rand(-4, 4, 3, n, 5);
            for (ReduceOp op : ReduceOp.values())
                for (int axis = 0; axis < 3; axis++)
                    for (Tensor f : forms(x))
                        assertClose(cl.reduce(op, f, axis, axis == 1), CPU.reduce(op, x, axis, axis == 1), 2e-6, 1e-6, op + " axis " + axis + " n=" + n);
        }
        Tensor nan = Tensor.of(new float[]{1, Float.NaN, 3, 7, 7, 2}, 2, 3);
        for (ReduceOp op : List.of(ReduceOp.MAX, ReduceOp.ARGMAX, ReduceOp.ARGMIN, ReduceOp.MIN))
            assertClose(cl.reduce(op, nan, 1, false), CPU.reduce(op, nan, 1, false), 0, 0, op + " with NaN and ties");
    }

    @Test
    void softmaxRmsNormRopeSwiglu() {
        for (int n : SIZES) {
            Tensor x = rand(-5, 5, 4, 3, n);
            for (int axis = 0; axis < 3; axis++)
                for (boolean log : new boolean[]{false, true})
                    for (Tensor f : forms(x)) assertClose(cl.softmax(f, axis, log), CPU.softmax(x, axis, log), 2e-6, 1e-7, "softmax log=" + log);
            Tensor y = CPU.softmax(x, 2, false), g = rand(-1, 1, 4, 3, n);
            assertClose(cl.softmaxBackward(cl.resident(y), g, 2), CPU.softmaxBackward(y, g, 2), 2e-6, 1e-7, "softmax backward");
            assertClose(cl.softmaxBackward(y, g, 0), CPU.softmaxBackward(y, g, 0), 2e-6, 1e-7, "softmax backward axis 0");

            Tensor w = rand(0.5f, 1.5f, n);
            for (Tensor f : forms(x.reshape(12, n))) assertClose(cl.rmsNorm(f, w, 1e-5f), CPU.rmsNorm(x.reshape(12, n), w, 1e-5f), 2e-6, 1e-7, "rmsNorm");
            Tensor[] got = cl.rmsNormBackward(x, w, 1e-5f, g), want = CPU.rmsNormBackward(x, w, 1e-5f, g);
            assertClose(got[0], want[0], 1e-5, 1e-6, "rmsNorm dx");
            assertClose(got[1], want[1], 1e-5, 1e-5, "rmsNorm dw");

            Tensor u = rand(-2, 2, 4, 3, n);
            assertClose(cl.swiglu(cl.resident(x), u), CPU.swiglu(x, u), 1e-6, 1e-7, "swiglu");
            Tensor[] sg = cl.swigluBackward(x, u, g), sw = CPU.swigluBackward(x, u, g);
            assertClose(sg[0], sw[0], 1e-6, 1e-7, "swiglu dGate");
            assertClose(sg[1], sw[1], 1e-6, 1e-7, "swiglu dUp");
            assertClose(cl.swigluBackward(x, null, g)[0], CPU.swigluBackward(x, null, g)[0], 1e-6, 1e-7, "silu backward");
            assertThat(cl.swigluBackward(x, null, g)[1]).isNull();
        }
        for (int d : new int[]{2, 8, 34}) {
            Tensor x = rand(-2, 2, 2, 7, 3, d);
            int[] pos = {0, 1, 2, 3, 40, 41, 1000};
            double[] inv = dev.stiefel.tensor.Rope.frequencies(d, 10000);
            for (boolean il : new boolean[]{false, true})
                for (Tensor f : forms(x)) assertClose(cl.rope(f.dim() == 4 ? f : x, pos, inv, il), CPU.rope(x, pos, inv, il), 1e-6, 1e-6, "rope d=" + d);
        }
    }

    @Test
    void matmulPlainTransposedBatchedAndVectors() {
        for (int m : SIZES)
            for (int n : new int[]{1, 33, 257})
                for (int k : new int[]{1, 7, 257}) {
                    Tensor a = rand(-1, 1, m, k), b = rand(-1, 1, k, n);
                    Tensor want = CPU.matmul(a, b, new int[]{m, n});
                    double tol = 1e-6 * Math.sqrt(k);
                    assertClose(cl.matmul(cl.resident(a), cl.resident(b), new int[]{m, n}), want, tol, tol, "matmul " + m + "x" + k + "x" + n);
                    // transposed operands: stride views of the transposed data
                    Tensor at = cl.resident(a.t().contiguous()).t(), bt = cl.resident(b.t().contiguous()).t();
                    assertClose(cl.matmul(at, bt, new int[]{m, n}), want, tol, tol, "matmul transposed " + m + "x" + k + "x" + n);
                }
        // batched, with a broadcast batch dim on b
        Tensor a = rand(-1, 1, 3, 2, 33, 7), b = rand(-1, 1, 2, 7, 65);
        int[] out = {3, 2, 33, 65};
        assertClose(cl.matmul(a, cl.resident(b), out), CPU.matmul(a, b, out), 1e-5, 1e-6, "batched matmul");
        // a weight used as x·Wᵀ (B = Wᵀ), one row and many: the gemv and sgemm paths
        Tensor w = rand(-1, 1, 257, 33);
        for (int rows : new int[]{1, 7}) {
            Tensor x = rand(-1, 1, rows, 33);
            assertClose(cl.matmul(x, cl.resident(w).t(), new int[]{rows, 257}), CPU.matmul(x, w.t(), new int[]{rows, 257}), 1e-5, 1e-6, "x·Wᵀ rows=" + rows);
        }
        Tensor col = rand(-1, 1, 33, 1);
        assertClose(cl.matmul(w, col, new int[]{257, 1}), CPU.matmul(w, col, new int[]{257, 1}), 1e-5, 1e-6, "W·x");
    }

    @Test
    void attentionForwardAndBackwardWithGroupedHeads() {
        for (int[] c : new int[][]{{1, 1, 1, 1, 8}, {2, 7, 4, 2, 8}, {1, 33, 6, 3, 16}, {1, 7, 3, 1, 6}}) {
            int b = c[0], t = c[1], h = c[2], g = c[3], d = c[4];
            Tensor q = rand(-1, 1, b, t, h, d), k = rand(-1, 1, b, t, g, d), v = rand(-1, 1, b, t, g, d);
            float scale = (float) (1 / Math.sqrt(d));
            for (Tensor mask : Arrays.asList(null, Tensor.causalMask(t, t))) {
                Tensor[] got = cl.attention(cl.resident(q), k, v, mask, scale), want = CPU.attention(q, k, v, mask, scale);
                assertClose(got[0], want[0], 1e-5, 1e-6, "attention out");
                assertClose(got[1], want[1], 1e-5, 1e-6, "attention probs");
                Tensor gOut = rand(-1, 1, b, t, h, d);
                Tensor[] gg = cl.attentionBackward(q, k, v, got[1], gOut, scale), gw = CPU.attentionBackward(q, k, v, want[1], gOut, scale);
                for (int i = 0; i < 3; i++) assertClose(gg[i], gw[i], 1e-5, 1e-5, "attention gradient " + "qkv".charAt(i));
            }
        }
    }

    /** The FWHT against scale·H_n·x with Sylvester's H_n[i, k] = (−1)^popcount(i & k), in f64. */
    @Test
    void fastWalshHadamardTransformAlongAnAxis() {
        assertThat(CPU.fwht(rand(-1, 1, 4), 1, 4, 1, 1f)).as("the CPU backend leaves the FWHT to riemann").isNull();
        for (int n : new int[]{1, 2, 8, 256})
            for (int inner : new int[]{1, 7}) {
                int outer = 3;
                Tensor x = rand(-1, 1, outer, n, inner);
                float scale = (float) (1 / Math.sqrt(n));
                float[] xv = x.toFloatArray();
                float[] want = new float[xv.length];
                for (int o = 0; o < outer; o++)
                    for (int i = 0; i < n; i++)
                        for (int j = 0; j < inner; j++) {
                            double s = 0;
                            for (int k = 0; k < n; k++) s += (Integer.bitCount(i & k) % 2 == 0 ? 1 : -1) * (double) xv[(o * n + k) * inner + j];
                            want[(o * n + i) * inner + j] = (float) (scale * s);
                        }
                for (Tensor f : List.of(x, cl.resident(x)))
                    assertClose(cl.fwht(f, outer, n, inner, scale), Tensor.wrap(want, outer, n, inner), 1e-6, 1e-6, "fwht n=" + n + " inner=" + inner);
            }
    }

    @Test
    void indexingGatherTopkAndCopies() {
        for (int n : SIZES) {
            Tensor x = rand(-3, 3, 4, n);
            int[] idx = {n - 1, 0, n / 2, 0};
            assertClose(cl.indexSelect(cl.resident(x), 1, idx), CPU.indexSelect(x, 1, idx), 0, 0, "indexSelect axis 1");
            assertClose(cl.indexSelect(cl.resident(x), 0, new int[]{3, 1}), CPU.indexSelect(x, 0, new int[]{3, 1}), 0, 0, "indexSelect axis 0");
            Tensor ids = Tensor.ofInts(new int[]{2, 0, 1, 2}, 4);
            assertClose(cl.indexSelect(cl.resident(ids), 0, new int[]{3, 0}), CPU.indexSelect(ids, 0, new int[]{3, 0}), 0, 0, "indexSelect i32");
            int[] gi = new int[4 * n];
            for (int i = 0; i < gi.length; i++) gi[i] = rnd.nextInt(n);
            Tensor index = Tensor.ofInts(gi, 4, n);
            assertClose(cl.gather(cl.resident(x), 1, index), CPU.gather(x, 1, index), 0, 0, "gather");
            for (int k : new int[]{1, Math.min(n, 5), n}) {
                Tensor.TopK got = cl.topk(x, k), want = CPU.topk(x, k);
                assertClose(got.values(), want.values(), 0, 0, "topk values k=" + k);
                assertClose(got.indices(), want.indices(), 0, 0, "topk indices k=" + k);
            }
        }
        Tensor ties = Tensor.of(new float[]{1, 3, 3, Float.NaN, -1, 3}, 1, 6);
        assertClose(cl.topk(ties, 4).indices(), CPU.topk(ties, 4).indices(), 0, 0, "topk ties and NaN");
        // copies between host and device, strided both ways, with a dtype conversion on the way in
        Tensor x = rand(-1, 1, 7, 33);
        Tensor dst = cl.resident(Tensor.zeros(33, 7));
        cl.copy(x.t(), dst);
        assertClose(dst, x.t().contiguous(), 0, 0, "copy host view into device");
        Tensor back = Tensor.zeros(7, 33);
        cl.copy(dst.t(), back);
        assertClose(back, x, 0, 0, "copy device view to host");
        Tensor half = x.to(DType.BF16);
        Tensor dh = cl.resident(Tensor.zeros(7, 33));
        cl.copy(half, dh);
        assertClose(dh, half.to(DType.F32), 0, 0, "copy bf16 into device f32");
        assertThat(cl.resident(x).t().contiguous().isOnDevice()).as("contiguous() of a device view stays on the device").isTrue();
    }
}
