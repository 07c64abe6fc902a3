package dev.stiefel.tensor;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static dev.stiefel.tensor.Ref.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** SwiGLU, the fused backward kernels and attention, each against its formula evaluated naively in f64. */
class FusedKernelsTest {
    static final int[][] SHAPES = {{1}, {7}, {33}, {257}, {3, 33, 7}, {5, 257}};

    static double sigmoid(double x) { return 1 / (1 + Math.exp(-x)); }

    @Test
    void swigluAndItsGradients() {
        Random rnd = new Random(31);
        for (int[] shape : SHAPES) {
            Tensor[] gates = Ref.layouts(rnd, shape, -6, 6), ups = Ref.layouts(rnd, shape, -2, 2), grads = Ref.layouts(rnd, shape, -1, 1);
            for (int l = 0; l < gates.length; l++) {
                Tensor a = gates[l], u = ups[(l + 1) % ups.length], g = grads[(l + 2) % grads.length];
                double[] av = Ref.values(a), uv = Ref.values(u), gv = Ref.values(g);
                int n = av.length;
                double[] y = new double[n], dA = new double[n], dU = new double[n], dSilu = new double[n];
                for (int i = 0; i < n; i++) {
                    double s = sigmoid(av[i]), silu = av[i] * s, ds = s * (1 + av[i] * (1 - s));
                    y[i] = silu * uv[i];
                    dA[i] = gv[i] * uv[i] * ds;
                    dU[i] = gv[i] * silu;
                    dSilu[i] = gv[i] * ds;
                }
                assertClose(a.swiglu(u), shape, y, 1e-5, 1e-7);
                Backward.SwigluGradients d = Backward.swiglu(a, u, g);
                assertClose(d.dGate(), shape, dA, 1e-5, 1e-7);
                assertClose(d.dUp(), shape, dU, 1e-5, 1e-7);
                assertClose(Backward.silu(a, g), shape, dSilu, 1e-5, 1e-7);
            }
        }
    }

    @Test
    void softmaxGradientAlongEveryAxis() {
        Random rnd = new Random(32);
        for (int[] shape : SHAPES)
            for (Tensor x : Ref.layouts(rnd, shape, -4, 4))
                for (int axis = 0; axis < shape.length; axis++) {
                    final int a = axis;
                    Tensor y = x.softmax(a);
                    Tensor g = Ref.layouts(rnd, shape, -1, 1)[axis % 2];
                    double[] expected = new double[x.numel()];
                    Ref.forEachIndex(shape, idx -> {
                        int[] j = idx.clone();
                        double gy = 0;
                        for (int r = 0; r < shape[a]; r++) { j[a] = r; gy += (double) g.get(j) * y.get(j); }
                        expected[Ref.flat(shape, idx)] = y.get(idx) * (g.get(idx) - gy);
                    });
                    assertClose(Backward.softmax(y, g, a - shape.length), shape, expected, 1e-5, 1e-7);
                }
    }

    @Test
    void rmsNormGradientsOfInputAndWeight() {
        Random rnd = new Random(33);
        float eps = 1e-5f;
        // 130 rows of 257 span three of the kernel's row blocks, whose weight-gradient partials are summed
        for (int rows : new int[]{1, 5, 130})
            for (int d : Ref.SIZES)
                for (Tensor x : Ref.layouts(rnd, new int[]{rows, d}, -3, 3)) {
                    Tensor w = Tensor.uniform(rnd, 0.5f, 1.5f, d), g = Tensor.randn(rnd, rows, d);
                    double[] dx = new double[rows * d], dw = new double[d];
                    for (int r = 0; r < rows; r++) {
                        double ss = 0, gwx = 0;
                        for (int i = 0; i < d; i++) {
                            ss += (double) x.get(r, i) * x.get(r, i);
                            gwx += (double) g.get(r, i) * w.get(i) * x.get(r, i);
                        }
                        double rr = 1 / Math.sqrt(ss / d + eps);
                        for (int i = 0; i < d; i++) {
                            dx[r * d + i] = rr * g.get(r, i) * w.get(i) - x.get(r, i) * rr * rr * rr * gwx / d;
                            dw[i] += (double) g.get(r, i) * x.get(r, i) * rr;
                        }
                    }
                    Backward.RmsNormGradients grads = Backward.rmsNorm(x, w, eps, g);
                    assertClose(grads.dx(), new int[]{rows, d}, dx, 1e-4, 1e-5);
                    assertClose(grads.dWeight(), new int[]{d}, dw, 1e-4, 1e-4);
                }
    }

    /** f64 attention forward and backward of one example: inputs as [b][t][h][j] arrays read through get(). */
    record AttentionRef(double[] out, double[] probs, double[] dq, double[] dk, double[] dv) {}

    static AttentionRef attentionReference(Tensor q, Tensor k, Tensor v, Tensor mask, float scale, Tensor gradOut) {
        int nd = q.dim();
        int[] qs = q.shape();
        int batches = Shape.prod(qs, 0, nd - 3), tq = qs[nd - 3], h = qs[nd - 2], d = qs[nd - 1];
        int tk = k.size(-3), kvh = k.size(-2), dv = v.size(-1), group = h / kvh;
        double[] qv = Ref.values(q), kv = Ref.values(k), vv = Ref.values(v), gv = Ref.values(gradOut);
        double[] mv = mask == null ? null : Ref.values(mask);
        double[] out = new double[batches * tq * h * dv], probs = new double[batches * h * tq * tk];
        double[] dq = new double[qv.length], dk = new double[kv.length], dvv = new double[vv.length];
        for (int b = 0; b < batches; b++)
            for (int hh = 0; hh < h; hh++) {
                int g = hh / group;
                double[][] p = new double[tq][tk], dp = new double[tq][tk];
                for (int i = 0; i < tq; i++) {
                    double m = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < tk; j++) {
                        double s = 0;
                        for (int e = 0; e < d; e++) s += qv[((b * tq + i) * h + hh) * d + e] * kv[((b * tk + j) * kvh + g) * d + e];
                        p[i][j] = scale * s + (mv == null ? 0 : mv[i * tk + j]);
                        m = Math.max(m, p[i][j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < tk; j++) sum += p[i][j] = Math.exp(p[i][j] - m);
                    for (int j = 0; j < tk; j++) {
                        p[i][j] /= sum;
                        probs[((b * h + hh) * tq + i) * tk + j] = p[i][j];
                    }
                    for (int e = 0; e < dv; e++) {
                        double o = 0;
                        for (int j = 0; j < tk; j++) o += p[i][j] * vv[((b * tk + j) * kvh + g) * dv + e];
                        out[((b * tq + i) * h + hh) * dv + e] = o;
                    }
                }
                for (int i = 0; i < tq; i++) {
                    double rowDot = 0;
                    for (int j = 0; j < tk; j++) {
                        double s = 0;
                        for (int e = 0; e < dv; e++) s += gv[((b * tq + i) * h + hh) * dv + e] * vv[((b * tk + j) * kvh + g) * dv + e];
                        dp[i][j] = s;
                        rowDot += s * p[i][j];
                    }
                    for (int j = 0; j < tk; j++) {
                        double ds = scale * p[i][j] * (dp[i][j] - rowDot);
                        for (int e = 0; e < d; e++) {
                            dq[((b * tq + i) * h + hh) * d + e] += ds * kv[((b * tk + j) * kvh + g) * d + e];
                            dk[((b * tk + j) * kvh + g) * d + e] += ds * qv[((b * tq + i) * h + hh) * d + e];
                        }
                        for (int e = 0; e < dv; e++)
                            dvv[((b * tk + j) * kvh + g) * dv + e] += p[i][j] * gv[((b * tq + i) * h + hh) * dv + e];
                    }
                }
            }
        return new AttentionRef(out, probs, dq, dk, dvv);
    }

    /** x [..., T, H, D] built three ways: contiguous, head-major permuted to token-major, and a strided slice. */
    static Tensor tokenMajor(Random rnd, int[] lead, int t, int heads, int d, int layout) {
        int[] shape = Shape.concat(lead, new int[]{t, heads, d});
        int nl = lead.length;
        return switch (layout) {
            case 0 -> Tensor.randn(rnd, shape);
            case 1 -> { // [..., H, T, D] permuted: each head's tokens contiguous, as after a transpose
                int[] order = new int[nl + 3];
                for (int i = 0; i < nl; i++) order[i] = i;
                order[nl] = nl + 1; order[nl + 1] = nl; order[nl + 2] = nl + 2;
                yield Tensor.randn(rnd, Shape.concat(lead, new int[]{heads, t, d})).permute(order);
            }
            default -> Tensor.randn(rnd, Shape.concat(lead, new int[]{t, heads, 2 * d + 1})).slice(nl + 2, 1, 1 + 2 * d, 2);
        };
    }

    @Test
    void attentionForwardAndBackwardWithGroupedHeadsMasksAndLayouts() {
        Random rnd = new Random(34);
        int[][] cases = { // lead dims?, tq, tk, heads, kv heads, d, dv
                {0, 1, 1, 1, 1, 1, 1}, {0, 7, 7, 3, 3, 5, 5}, {1, 7, 12, 4, 2, 8, 3}, {0, 33, 33, 4, 1, 7, 7}, {1, 33, 40, 2, 2, 16, 16},
                {0, 257, 257, 2, 1, 16, 16}};
        for (int[] c : cases) {
            int[] lead = c[0] == 1 ? new int[]{2} : new int[0];
            int tq = c[1], tk = c[2], h = c[3], kvh = c[4], d = c[5], dv = c[6];
            for (int layout = 0; layout < 3; layout++)
                for (int maskKind = 0; maskKind < 3; maskKind++) {
                    Tensor q = tokenMajor(rnd, lead, tq, h, d, layout), k = tokenMajor(rnd, lead, tk, kvh, d, (layout + 1) % 3);
                    Tensor v = tokenMajor(rnd, lead, tk, kvh, dv, (layout + 2) % 3);
                    Tensor mask = switch (maskKind) {
                        case 0 -> null;
                        case 1 -> Tensor.causalMask(tq, tk);
                        default -> Tensor.uniform(rnd, -3, 0, tq, tk);
                    };
                    float scale = (float) (1 / Math.sqrt(d));
                    Tensor gradOut = tokenMajor(rnd, lead, tq, h, dv, layout);
                    AttentionRef ref = attentionReference(q, k, v, mask, scale, gradOut);
                    String what = "case " + java.util.Arrays.toString(c) + " layout " + layout + " mask " + maskKind;
                    Attention.Output o = Attention.forward(q, k, v, mask, scale);
                    assertThat(o.out().shape()).as(what).isEqualTo(Shape.concat(lead, new int[]{tq, h, dv}));
                    assertClose(o.out(), o.out().shape(), ref.out(), 1e-4, 1e-5);
                    assertClose(o.probs(), Shape.concat(lead, new int[]{h, tq, tk}), ref.probs(), 1e-4, 1e-6);
                    Attention.Gradients grads = Attention.backward(q, k, v, o.probs(), gradOut, scale);
                    assertClose(grads.dq(), q.shape(), ref.dq(), 1e-3, 1e-4);
                    assertClose(grads.dk(), k.shape(), ref.dk(), 1e-3, 1e-4);
                    assertClose(grads.dv(), v.shape(), ref.dv(), 1e-3, 1e-4);
                }
        }
    }

    @Test
    void attentionLargeEnoughForThreadedProductsMatchesTheSmallPath() {
        // 257 x 257 x 512 multiply-adds per product reach Sgemm's multi-thread size: each head's products then run
        // on every thread, one head at a time; compare with the same heads computed one at a time (the per-thread path)
        Random rnd = new Random(35);
        int t = 257, d = 512;
        Tensor q = Tensor.randn(rnd, t, 2, d).mul(0.05f), k = Tensor.randn(rnd, t, 1, d).mul(0.05f), v = Tensor.randn(rnd, t, 1, d);
        Tensor g = Tensor.randn(rnd, t, 2, d), mask = Tensor.causalMask(t, t);
        float scale = 1 / (float) Math.sqrt(d);
        AttentionRef ref = attentionReference(q, k, v, mask, scale, g);
        Attention.Output o = Attention.forward(q, k, v, mask, scale);
        assertClose(o.out(), new int[]{t, 2, d}, ref.out(), 1e-4, 1e-5);
        Attention.Gradients grads = Attention.backward(q, k, v, o.probs(), g, scale);
        assertClose(grads.dq(), q.shape(), ref.dq(), 1e-3, 1e-4);
        assertClose(grads.dk(), k.shape(), ref.dk(), 1e-3, 1e-4);
        assertClose(grads.dv(), v.shape(), ref.dv(), 1e-3, 1e-4);
    }

    @Test
    void badShapesNameTheOpAndShapes() {
        Tensor q = Tensor.zeros(7, 4, 8), k = Tensor.zeros(7, 3, 8), v = Tensor.zeros(7, 3, 8);
        assertThatThrownBy(() -> Attention.forward(q, k, v, null, 1f)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("4 query heads").hasMessageContaining("[7, 3, 8]");
        assertThatThrownBy(() -> Attention.forward(q, Tensor.zeros(7, 2, 6), Tensor.zeros(7, 2, 6), null, 1f))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("head sizes");
        assertThatThrownBy(() -> Attention.forward(q, Tensor.zeros(7, 2, 8), Tensor.zeros(7, 2, 8), Tensor.zeros(7, 6), 1f))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("mask [7, 6]");
        assertThatThrownBy(() -> Tensor.zeros(3, 4).swiglu(Tensor.zeros(4, 3))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("swiglu").hasMessageContaining("[3, 4]").hasMessageContaining("[4, 3]");
        assertThatThrownBy(() -> Backward.rmsNorm(Tensor.zeros(3, 4), Tensor.zeros(5), 1e-5f, Tensor.zeros(3, 4)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("weight [5]");
        assertThatThrownBy(() -> Backward.softmax(Tensor.zeros(3, 4), Tensor.zeros(3, 5), -1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[3, 5]");
    }
}
