package dev.stiefel.bench;

import dev.stiefel.autograd.Var;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * Forward + backward of one LLaMA-shaped block on the tape (dim 512, 8 heads of 64, SwiGLU hidden 1376,
 * 256 tokens) against the same matrix products run bare: the difference is what the tape and the
 * element-wise ops cost on top of the matmuls. FLOPs of the products (forward, plus dA = G·Bᵀ and
 * dB = Aᵀ·G for each in backward) are in {@link #matmulFlops()}.
 *
 * <p>Both tape variants run exactly the 27 products of {@link #matmulsOnly}, at the same sizes (masked-out
 * attention blocks are computed too): the fused attention's six products per head are the two forward and
 * four backward products of the composed one. The bare products allocate their outputs, as the tape does.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx4g"})
public class BlockBench {
    static final int DIM = 512, HEADS = 8, HEAD_DIM = 64, HIDDEN = 1376, T = 256;

    Tensor x, wq, wk, wv, wo, wg, wu, wd, n1, n2, mask;
    Tensor mid, heads, probs; // stand-ins for the intermediate activations of matmulsOnly
    Rope rope;
    int[] positions;

    @Setup public void setup() {
        Random rnd = new Random(11);
        x = Tensor.randn(rnd, T, DIM);
        float s = (float) (1 / Math.sqrt(DIM));
        wq = Tensor.randn(rnd, DIM, DIM).mul(s); wk = Tensor.randn(rnd, DIM, DIM).mul(s);
        wv = Tensor.randn(rnd, DIM, DIM).mul(s); wo = Tensor.randn(rnd, DIM, DIM).mul(s);
        wg = Tensor.randn(rnd, HIDDEN, DIM).mul(s); wu = Tensor.randn(rnd, HIDDEN, DIM).mul(s);
        wd = Tensor.randn(rnd, DIM, HIDDEN).mul((float) (1 / Math.sqrt(HIDDEN)));
        n1 = Tensor.ones(DIM); n2 = Tensor.ones(DIM);
        mask = Tensor.causalMask(T, T);
        rope = new Rope(HEAD_DIM, 10000, Rope.Layout.INTERLEAVED);
        positions = new int[T];
        for (int i = 0; i < T; i++) positions[i] = i;
        mid = Tensor.randn(rnd, T, HIDDEN);
        heads = Tensor.randn(rnd, HEADS, T, HEAD_DIM);
        probs = Tensor.randn(rnd, HEADS, T, T);
    }

    /**
     * The block as a calibration would train it: every weight a parameter, a scalar loss, one backward. Attention
     * and the SwiGLU product are the fused ops of the tape ({@link Var#attention}, {@link Var#swiglu}); their
     * products are the same, full-size ones as in {@link #forwardBackwardComposed}.
     */
    @Benchmark public Tensor forwardBackward() {
        Var in = Var.of(x);
        Var q = Var.param(wq), k = Var.param(wk), v = Var.param(wv), o = Var.param(wo);
        Var g = Var.param(wg), u = Var.param(wu), d = Var.param(wd), a1 = Var.param(n1), a2 = Var.param(n2);
        Var h = in.rmsNorm(a1, 1e-5f);
        Var qh = h.matmul(q.t()).reshape(T, HEADS, HEAD_DIM).rope(rope, positions);
        Var kh = h.matmul(k.t()).reshape(T, HEADS, HEAD_DIM).rope(rope, positions);
        Var vh = h.matmul(v.t()).reshape(T, HEADS, HEAD_DIM);
        Var attn = Var.attention(qh, kh, vh, mask, (float) (1 / Math.sqrt(HEAD_DIM))).reshape(T, DIM);
        Var x1 = in.add(attn.matmul(o.t()));
        Var h2 = x1.rmsNorm(a2, 1e-5f);
        Var mlp = h2.matmul(g.t()).swiglu(h2.matmul(u.t())).matmul(d.t());
        Var out = x1.add(mlp);
        out.square().mean().backward();
        return q.grad();
    }

    /** The same block written with primitive ops only: head-major permutes, scale, mask add, softmax, silu·mul. */
    @Benchmark public Tensor forwardBackwardComposed() {
        Var in = Var.of(x);
        Var q = Var.param(wq), k = Var.param(wk), v = Var.param(wv), o = Var.param(wo);
        Var g = Var.param(wg), u = Var.param(wu), d = Var.param(wd), a1 = Var.param(n1), a2 = Var.param(n2);
        Var h = in.rmsNorm(a1, 1e-5f);
        Var qh = h.matmul(q.t()).reshape(T, HEADS, HEAD_DIM).rope(rope, positions).permute(1, 0, 2);
        Var kh = h.matmul(k.t()).reshape(T, HEADS, HEAD_DIM).rope(rope, positions).permute(1, 0, 2);
        Var vh = h.matmul(v.t()).reshape(T, HEADS, HEAD_DIM).permute(1, 0, 2);
        Var scores = qh.matmul(kh.transpose(1, 2)).mul((float) (1 / Math.sqrt(HEAD_DIM))).add(Var.of(mask)).softmax(-1);
        Var attn = scores.matmul(vh).permute(1, 0, 2).reshape(T, DIM);
        Var x1 = in.add(attn.matmul(o.t()));
        Var h2 = x1.rmsNorm(a2, 1e-5f);
        Var mlp = h2.matmul(g.t()).silu().mul(h2.matmul(u.t())).matmul(d.t());
        Var out = x1.add(mlp);
        out.square().mean().backward();
        return q.grad();
    }

    /** The same products, bare: 7 projections and 2 attention products, each forward and both backward ones. */
    @Benchmark public Tensor matmulsOnly() {
        Tensor h = x, last = null;
        for (Tensor w : new Tensor[]{wq, wk, wv, wo}) last = linear(h, w);
        last = linear(h, wg); last = linear(h, wu); last = linear(mid, wd);
        Tensor qh = heads, kh = heads, vh = heads, p = probs;
        Tensor s = qh.matmul(kh.transpose(1, 2));                     // forward scores
        s.matmul(kh); qh.transpose(1, 2).matmul(s);                     // their backward
        Tensor av = p.matmul(vh);                                        // forward p·v
        av.matmul(vh.transpose(1, 2)); p.transpose(1, 2).matmul(av);    // its backward
        return last;
    }

    /** y = x·Wᵀ forward, dx = G·W and dW = Gᵀ·x backward (G shaped like y). */
    private static Tensor linear(Tensor x, Tensor w) {
        Tensor y = x.matmul(w.t());
        y.matmul(w);
        return y.t().matmul(x);
    }

    /** Multiply-adds ×2 of all products in one forward+backward. */
    public static double matmulFlops() {
        double proj = 3.0 * 2 * T * (4.0 * DIM * DIM + 3.0 * DIM * HIDDEN);
        double attention = 3.0 * 2 * 2 * HEADS * (double) T * T * HEAD_DIM;
        return proj + attention;
    }
}
