package dev.stiefel.autograd;

import dev.stiefel.tensor.Attention;
import dev.stiefel.tensor.Backward;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backends;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A tensor on the tape. Leaves are made with {@link #param} (gradients wanted) or {@link #of} (constants);
 * every op on a Var returns a new Var that remembers, through a {@link Node}, how to send gradients back
 * to its inputs. Only ops with at least one input that requires gradients, run while {@link Grad#enabled()},
 * are recorded: a frozen model under {@link Grad#off()} builds no graph at all.
 *
 * <p>Each backward rule below is the chain rule for its forward line, written with the same tensor ops.
 */
public final class Var {
    private final Tensor value;
    private final boolean requiresGrad;
    private final Node node;
    private Tensor grad;

    private static final Var[] NO_INPUTS = {};

    private Var(Tensor value, boolean requiresGrad, Node node) {
        this.value = value;
        this.requiresGrad = requiresGrad;
        this.node = node;
    }

    /** A leaf whose gradient {@link #backward()} computes. */
    public static Var param(Tensor value) { return new Var(value, true, null); }

    /** A constant leaf: no gradient flows into it. */
    public static Var of(Tensor value) { return new Var(value, false, null); }

    public Tensor value() { return value; }

    /** The accumulated gradient of a leaf after {@link #backward()}, or null when none has reached it. */
    public Tensor grad() { return grad; }

    public void zeroGrad() { grad = null; }

    /** Replaces the accumulated gradient (gradient clipping, tests). */
    public void setGrad(Tensor g) {
        if (g != null && !Arrays.equals(g.shape(), value.shape()))
            throw new IllegalArgumentException("setGrad: gradient " + Shape.str(g.shape()) + " for a value " + Shape.str(value.shape()));
        grad = g;
    }

    public boolean requiresGrad() { return requiresGrad; }

    public boolean isLeaf() { return node == null; }

    /** The same value, cut from the graph: nothing flows back through it. */
    public Var detach() { return of(value); }

    public int[] shape() { return value.shape(); }

    /** Records {@code value} as the output of {@code op} when any input needs a gradient and the tape is on. */
    static Var record(String op, Tensor value, Node.Rule rule, Var... inputs) {
        if (!Grad.enabled()) return of(value);
        for (Var in : inputs)
            if (in.requiresGrad) return new Var(value, true, new Node(op, inputs, rule));
        return of(value);
    }

    /** The chain rule of a custom op: the gradients of its inputs (null where none is needed) from its output's. */
    @FunctionalInterface
    public interface BackwardRule { Tensor[] apply(Tensor gradOut); }

    /**
     * Records a custom op defined outside this class (a fused kernel, a structured transform such as a fast Hadamard
     * product): {@code value} is its forward result, {@code rule} its backward. Give it a finite-difference test
     * ({@link GradCheck}) like every built-in rule.
     */
    public static Var op(String name, Tensor value, BackwardRule rule, Var... inputs) {
        return record(name, value, rule::apply, inputs);
    }

    // ------------------------------------------------------------ backward

    /** Back-propagates from this scalar: every leaf that requires a gradient accumulates d(this)/d(leaf). */
    public void backward() {
        if (value.numel() != 1)
            throw new IllegalArgumentException("backward: needs a scalar, got shape " + Shape.str(value.shape())
                    + "; reduce it first (sum or mean) or call backward(gradient)");
        // the seed where the value is: on a device a sum's gradient is then broadcast there, not made on the heap
        // at the summed tensor's size and uploaded
        Tensor seed = Tensor.ones(value.shape());
        backward(value.isOnDevice() ? Backends.current().resident(seed) : seed);
    }

    /** Back-propagates {@code seed} = d(loss)/d(this). The graph's saved tensors are freed on the way. */
    public void backward(Tensor seed) {
        if (!Arrays.equals(seed.shape(), value.shape()))
            throw new IllegalArgumentException("backward: seed " + Shape.str(seed.shape()) + " for a value " + Shape.str(value.shape()));
        if (!requiresGrad) throw new IllegalStateException("backward: this value does not depend on anything that requires a gradient");
        Map<Var, Tensor> pending = new IdentityHashMap<>();
        pending.put(this, seed);
        for (Var v : reverseTopologicalOrder()) {
            Tensor g = pending.remove(v);
            if (g == null) continue;
            if (v.node == null) { // a leaf: keep the gradient
                v.grad = v.grad == null ? g : v.grad.add(g);
                continue;
            }
            Tensor[] gi = v.node.backward(g);
            Var[] inputs = v.node.inputs();
            v.node.release();
            for (int i = 0; i < inputs.length; i++) {
                if (!inputs[i].requiresGrad || gi[i] == null) continue;
                pending.merge(inputs[i], gi[i], Tensor::add); // a value used twice receives both gradients
            }
        }
    }

    /** Every Var this one depends on through the tape, each after all the Vars that use it. */
    private List<Var> reverseTopologicalOrder() {
        List<Var> post = new ArrayList<>();
        Map<Var, Boolean> seen = new IdentityHashMap<>();
        ArrayDeque<Object[]> stack = new ArrayDeque<>(); // {var, next input index}
        stack.push(new Object[]{this, 0});
        seen.put(this, true);
        while (!stack.isEmpty()) {
            Object[] top = stack.peek();
            Var v = (Var) top[0];
            int i = (int) top[1];
            Var[] in = v.node == null ? NO_INPUTS : v.node.inputs();
            if (i < in.length) {
                top[1] = i + 1;
                Var next = in[i];
                if (next.requiresGrad && seen.put(next, true) == null) stack.push(new Object[]{next, 0});
            } else {
                stack.pop();
                post.add(v);
            }
        }
        java.util.Collections.reverse(post);
        return post;
    }

    // ------------------------------------------------------------ broadcasting

    /** Sums a broadcast gradient back to {@code shape}: over leading dims it lacks and dims where it has size 1. */
    static Tensor sumTo(Tensor g, int[] shape) {
        int[] gs = g.shape();
        if (Arrays.equals(gs, shape)) return g;
        int lead = gs.length - shape.length;
        Tensor r = g;
        for (int d = 0; d < lead; d++) r = r.sum(0, false);
        for (int d = 0; d < shape.length; d++)
            if (shape[d] == 1 && r.size(d) != 1) r = r.sum(d, true);
        return r;
    }

    // ------------------------------------------------------------ element-wise

    public Var add(Var o) {
        int[] as = shape(), bs = o.shape();
        return record("add", value.add(o.value), g -> new Tensor[]{sumTo(g, as), sumTo(g, bs)}, this, o);
    }

    public Var sub(Var o) {
        int[] as = shape(), bs = o.shape();
        return record("sub", value.sub(o.value), g -> new Tensor[]{sumTo(g, as), sumTo(g.neg(), bs)}, this, o);
    }

    public Var mul(Var o) {
        Tensor a = value, b = o.value;
        return record("mul", a.mul(b), g -> new Tensor[]{sumTo(g.mul(b), a.shape()), sumTo(g.mul(a), b.shape())}, this, o);
    }

    /** d(a/b) = da/b − a·db/b² */
    public Var div(Var o) {
        Tensor a = value, b = o.value;
        return record("div", a.div(b), g -> new Tensor[]{sumTo(g.div(b), a.shape()),
                sumTo(g.mul(a).div(b.square()).neg(), b.shape())}, this, o);
    }

    public Var add(float s) { return record("add_scalar", value.add(s), g -> new Tensor[]{g}, this); }

    public Var mul(float s) { return record("mul_scalar", value.mul(s), g -> new Tensor[]{g.mul(s)}, this); }

    public Var sub(float s) { return record("sub_scalar", value.sub(s), g -> new Tensor[]{g}, this); }

    public Var div(float s) { return record("div_scalar", value.div(s), g -> new Tensor[]{g.div(s)}, this); }

    public Var neg() { return record("neg", value.neg(), g -> new Tensor[]{g.neg()}, this); }

    public Var exp() {
        Tensor y = value.exp();
        return record("exp", y, g -> new Tensor[]{g.mul(y)}, this);
    }

    public Var log() {
        Tensor x = value;
        return record("log", x.log(), g -> new Tensor[]{g.div(x)}, this);
    }

    /** d√x = 1/(2√x) */
    public Var sqrt() {
        Tensor y = value.sqrt();
        return record("sqrt", y, g -> new Tensor[]{g.div(y).mul(0.5f)}, this);
    }

    /** d x^(−1/2) = −½·x^(−3/2) = −½·y³ */
    public Var rsqrt() {
        Tensor y = value.rsqrt();
        return record("rsqrt", y, g -> new Tensor[]{g.mul(y.square().mul(y)).mul(-0.5f)}, this);
    }

    /** d(1/x) = −1/x² = −y² */
    public Var reciprocal() {
        Tensor y = value.reciprocal();
        return record("reciprocal", y, g -> new Tensor[]{g.mul(y.square()).neg()}, this);
    }

    /** d|x| = sign(x), taken as 0 at x = 0 (the subgradient PyTorch uses). */
    public Var abs() {
        Tensor x = value;
        return record("abs", x.abs(), g -> new Tensor[]{g.mul(x.gt(0f).sub(x.lt(0f)))}, this);
    }

    public Var square() {
        Tensor x = value;
        return record("square", x.square(), g -> new Tensor[]{g.mul(x).mul(2f)}, this);
    }

    /** d xᵖ = p·xᵖ⁻¹ */
    public Var pow(float p) {
        Tensor x = value;
        return record("pow", x.pow(p), g -> new Tensor[]{g.mul(x.pow(p - 1)).mul(p)}, this);
    }

    /** d tanh = 1 − tanh² */
    public Var tanh() {
        Tensor y = value.tanh();
        return record("tanh", y, g -> new Tensor[]{g.mul(y.square().neg().add(1f))}, this);
    }

    /** dσ = σ(1 − σ) */
    public Var sigmoid() {
        Tensor y = value.sigmoid();
        return record("sigmoid", y, g -> new Tensor[]{g.mul(y.mul(y.neg().add(1f)))}, this);
    }

    /** d(x·σ(x)) = σ(x)·(1 + x·(1 − σ(x))) */
    public Var silu() {
        Tensor x = value;
        return record("silu", x.silu(), g -> new Tensor[]{Backward.silu(x, g)}, this);
    }

    // ------------------------------------------------------------ matmul and reductions

    /** [..., m, k]·[..., k, n]: dA = G·Bᵀ, dB = Aᵀ·G, each summed over the batch dims it was broadcast along. */
    public Var matmul(Var o) {
        Tensor a = value, b = o.value;
        return record("matmul", a.matmul(b), g -> new Tensor[]{
                requiresGrad ? sumTo(g.matmul(b.t()), a.shape()) : null,
                o.requiresGrad ? sumTo(a.t().matmul(g), b.shape()) : null}, this, o);
    }

    public Var sum(int axis, boolean keepDim) {
        int[] s = shape();
        int a = Shape.axis("sum", axis, s);
        return record("sum", value.sum(a, keepDim), g -> new Tensor[]{(keepDim ? g : g.unsqueeze(a)).expand(s)}, this);
    }

    public Var mean(int axis, boolean keepDim) {
        int[] s = shape();
        int a = Shape.axis("mean", axis, s);
        float n = s[a];
        return record("mean", value.mean(a, keepDim), g -> new Tensor[]{(keepDim ? g : g.unsqueeze(a)).div(n).expand(s)}, this);
    }

    /** Variance along an axis over n (biased) or n − 1 (unbiased, Bessel): d var / dxᵢ = 2(xᵢ − mean) / (n or n − 1). */
    public Var var(int axis, boolean keepDim, boolean unbiased) {
        Tensor x = value;
        int a = Shape.axis("var", axis, x.shape());
        float divisor = unbiased ? x.size(a) - 1 : x.size(a);
        return record("var", x.var(a, keepDim, unbiased), g -> {
            Tensor centred = x.sub(x.mean(a, true));
            return new Tensor[]{(keepDim ? g : g.unsqueeze(a)).mul(centred).mul(2f / divisor)};
        }, this);
    }

    /** y = log Σ exp(x) along an axis: dx = g·softmax(x) = g·exp(x − y). */
    public Var logsumexp(int axis, boolean keepDim) {
        Tensor x = value;
        int a = Shape.axis("logsumexp", axis, x.shape());
        Tensor y = x.logsumexp(a, true);
        return record("logsumexp", keepDim ? y : y.squeeze(a), g -> new Tensor[]{(keepDim ? g : g.unsqueeze(a)).mul(x.sub(y).exp())}, this);
    }

    public Var sum() { return reshape(value.numel()).sum(0, false); }

    public Var mean() { return reshape(value.numel()).mean(0, false); }

    /** softmax: dx = y ⊙ (g − Σ g⊙y) along the axis */
    public Var softmax(int axis) {
        Tensor y = value.softmax(axis);
        return record("softmax", y, g -> new Tensor[]{Backward.softmax(y, g, axis)}, this);
    }

    /** log-softmax: dx = g − softmax(x) · Σ g along the axis */
    public Var logSoftmax(int axis) {
        Tensor y = value.logSoftmax(axis);
        return record("log_softmax", y, g -> new Tensor[]{g.sub(y.exp().mul(g.sum(axis, true)))}, this);
    }

    /**
     * RMSNorm y = w ⊙ x·r with r = (mean(x²) + eps)^(−1/2) over the last dim:
     * dx = r·(g⊙w) − x·r³·mean((g⊙w)⊙x), dw = Σ_rows g⊙x·r.
     */
    public Var rmsNorm(Var weight, float eps) {
        Tensor x = value, w = weight.value;
        Tensor y = x.rmsNorm(w, eps);
        return record("rms_norm", y, g -> {
            Backward.RmsNormGradients d = Backward.rmsNorm(x, w, eps, g); // one fused kernel (tensor's Backward)
            return new Tensor[]{d.dx(), weight.requiresGrad ? d.dWeight() : null};
        }, this, weight);
    }

    /** RoPE is a rotation per pair, so its gradient is the opposite rotation (the same frequencies negated). */
    public Var rope(Rope rope, int[] positions) {
        double[] f = rope.invFreq();
        for (int i = 0; i < f.length; i++) f[i] = -f[i];
        Rope inverse = new Rope(f, rope.layout());
        return record("rope", rope.apply(value, positions), g -> new Tensor[]{inverse.apply(g, positions)}, this);
    }

    /** Round half to even forward; the straight-through estimator backward passes the gradient unchanged (Bengio et al. 2013). */
    public Var roundSte() { return record("round_ste", value.round(), g -> new Tensor[]{g}, this); }

    /** clamp(x, lo, hi): the gradient flows where lo <= x <= hi and is zero where the value was clipped. */
    public Var clamp(float lo, float hi) {
        Tensor x = value;
        return record("clamp", x.clamp(lo, hi), g -> {
            Tensor inside = x.ge(lo).mul(x.le(hi));
            return new Tensor[]{g.mul(inside)};
        }, this);
    }

    /** Element-wise maximum; the gradient goes to the larger input (to the first on ties). */
    public Var maximum(Var o) {
        Tensor a = value, b = o.value;
        return record("maximum", a.maximum(b), g -> {
            Tensor aWins = a.ge(b);
            return new Tensor[]{sumTo(g.mul(aWins), a.shape()), sumTo(g.mul(aWins.neg().add(1f)), b.shape())};
        }, this, o);
    }

    /** Element-wise minimum; the gradient goes to the smaller input (to the first on ties). */
    public Var minimum(Var o) {
        Tensor a = value, b = o.value;
        return record("minimum", a.minimum(b), g -> {
            Tensor aWins = a.le(b);
            return new Tensor[]{sumTo(g.mul(aWins), a.shape()), sumTo(g.mul(aWins.neg().add(1f)), b.shape())};
        }, this, o);
    }

    /** Max along an axis; the gradient goes to the first maximal element. */
    public Var max(int axis, boolean keepDim) {
        Tensor x = value;
        int a = Shape.axis("max", axis, x.shape());
        Tensor idx = x.argmax(a, true);
        return record("max", x.max(a, keepDim), g -> new Tensor[]{scatter(x.shape(), a, idx, keepDim ? g : g.unsqueeze(a))}, this);
    }

    /** Min along an axis; the gradient goes to the first minimal element. */
    public Var min(int axis, boolean keepDim) {
        Tensor x = value;
        int a = Shape.axis("min", axis, x.shape());
        Tensor idx = x.argmin(a, true);
        return record("min", x.min(a, keepDim), g -> new Tensor[]{scatter(x.shape(), a, idx, keepDim ? g : g.unsqueeze(a))}, this);
    }

    /** torch.gather along {@code axis}; the backward scatters each gradient back to the element it came from. */
    public Var gather(int axis, Tensor index) {
        int[] s = shape();
        int a = Shape.axis("gather", axis, s);
        return record("gather", value.gather(a, index), g -> new Tensor[]{scatter(s, a, index, g)}, this);
    }

    /** zeros(shape) with src added at out[.. index[..i..] ..] along axis (the adjoint of gather). */
    static Tensor scatter(int[] shape, int axis, Tensor index, Tensor src) {
        if (src.isOnDevice() && Arrays.equals(Shape.with(index.shape(), axis, shape[axis]), shape)) {
            // whole lines along the axis (max/min's one element, a top-k gather's k): a device backend scatters where src
            // is, so nothing of the input's size crosses the bus either way
            Tensor onDevice = Backends.current().scatterAdd(shape, axis, index, src);
            if (onDevice != null) return onDevice;
        }
        float[] out = new float[(int) Shape.numel(shape)];
        int[] is = index.shape(), idx = index.contiguous().toIntArray();
        float[] sv = src.toFloatArray();
        int[] strides = Shape.contiguousStrides(shape);
        int[] pos = new int[is.length];
        for (int e = 0; e < idx.length; e++) {
            int at = 0;
            for (int d = 0; d < is.length; d++) at += (d == axis ? idx[e] : pos[d]) * strides[d];
            out[at] += sv[e];
            for (int d = is.length - 1; d >= 0; d--) { if (++pos[d] < is[d]) break; pos[d] = 0; }
        }
        return Tensor.wrap(out, shape);
    }

    // ------------------------------------------------------------ views and indexing

    public Var reshape(int... newShape) {
        int[] s = shape();
        return record("reshape", value.reshape(newShape), g -> new Tensor[]{g.reshape(s)}, this);
    }

    public Var permute(int... order) {
        int[] inverse = new int[order.length];
        for (int i = 0; i < order.length; i++) inverse[Shape.axis("permute", order[i], shape())] = i;
        return record("permute", value.permute(order), g -> new Tensor[]{g.permute(inverse)}, this);
    }

    public Var transpose(int a, int b) {
        return record("transpose", value.transpose(a, b), g -> new Tensor[]{g.transpose(a, b)}, this);
    }

    public Var t() { return transpose(-2, -1); }

    /** The gradient of a slice is the slice's gradient placed back into zeros. */
    public Var narrow(int axis, int start, int length) {
        int[] s = shape();
        return record("narrow", value.narrow(axis, start, length), g -> {
            Tensor dx = Tensor.zeros(s);
            dx.narrow(axis, start, length).copyFrom(g);
            return new Tensor[]{dx};
        }, this);
    }

    /** Elements start, start + step, ... below end along an axis; the gradient goes back to those places, zero elsewhere. */
    public Var slice(int axis, int start, int end, int step) {
        int[] s = shape();
        return record("slice", value.slice(axis, start, end, step), g -> {
            Tensor dx = Tensor.zeros(s);
            dx.slice(axis, start, end, step).copyFrom(g);
            return new Tensor[]{dx};
        }, this);
    }

    /** The sub-tensor at {@code index} along an axis, that dimension removed; its gradient goes back into that one place. */
    public Var select(int axis, int index) {
        int[] s = shape();
        return record("select", value.select(axis, index), g -> {
            Tensor dx = Tensor.zeros(s);
            dx.select(axis, index).copyFrom(g);
            return new Tensor[]{dx};
        }, this);
    }

    /** Inserts a dimension of size 1 (axis counted in the result); the gradient drops it again. */
    public Var unsqueeze(int axis) {
        Tensor y = value.unsqueeze(axis);
        int a = axis < 0 ? axis + y.dim() : axis;
        return record("unsqueeze", y, g -> new Tensor[]{g.squeeze(a)}, this);
    }

    /** Removes a dimension of size 1; the gradient puts it back. */
    public Var squeeze(int axis) {
        int a = Shape.axis("squeeze", axis, shape());
        return record("squeeze", value.squeeze(a), g -> new Tensor[]{g.unsqueeze(a)}, this);
    }

    /** A broadcast view (size-1 dims repeated, leading dims added); the gradient is summed back over the repeats. */
    public Var expand(int... newShape) {
        int[] s = shape();
        return record("expand", value.expand(newShape), g -> new Tensor[]{sumTo(g, s)}, this);
    }

    /** Joins along {@code axis}; each input's gradient is its own slice of the output's. */
    public static Var concat(int axis, Var... vs) {
        Tensor[] ts = new Tensor[vs.length];
        for (int i = 0; i < vs.length; i++) ts[i] = vs[i].value;
        Tensor out = Tensor.concat(axis, ts);
        int a = Shape.axis("concat", axis, out.shape());
        return record("concat", out, g -> {
            Tensor[] gs = new Tensor[vs.length];
            int at = 0;
            for (int i = 0; i < vs.length; i++) {
                int len = vs[i].value.size(a);
                gs[i] = g.narrow(a, at, len);
                at += len;
            }
            return gs;
        }, vs);
    }

    /** Stacks equal shapes along a new axis; input i's gradient is the output gradient at index i of that axis. */
    public static Var stack(int axis, Var... vs) {
        Tensor[] ts = new Tensor[vs.length];
        for (int i = 0; i < vs.length; i++) ts[i] = vs[i].value;
        Tensor out = Tensor.stack(axis, ts);
        int a = Shape.axis("stack", axis, out.shape());
        return record("stack", out, g -> {
            Tensor[] gs = new Tensor[vs.length];
            for (int i = 0; i < vs.length; i++) gs[i] = g.select(a, i);
            return gs;
        }, vs);
    }

    /** Rows of this table at {@code ids}; the backward adds each output row's gradient into its table row. */
    public Var embedding(Tensor ids) {
        int[] s = shape();
        int[] flatIds = ids.contiguous().toIntArray();
        return record("embedding", value.embedding(ids), g -> {
            int d = s[1];
            float[] dx = new float[s[0] * d], gd = g.toFloatArray();
            for (int t = 0; t < flatIds.length; t++)
                for (int j = 0; j < d; j++) dx[flatIds[t] * d + j] += gd[t * d + j];
            return new Tensor[]{Tensor.wrap(dx, s)};
        }, this);
    }

    /**
     * The slices at {@code indices} (1-D i32) along an axis. That is a gather whose index repeats each entry across
     * the other dims, so the backward is the same scatter: an index used twice receives both gradients.
     */
    public Var indexSelect(int axis, Tensor indices) {
        int[] s = shape();
        int a = Shape.axis("indexSelect", axis, s);
        Tensor y = value.indexSelect(a, indices);
        int[] picked = indices.toIntArray(), ys = y.shape();
        return record("index_select", y, g -> {
            int inner = Shape.prod(ys, a + 1, ys.length);
            int[] index = new int[y.numel()];
            for (int e = 0; e < index.length; e++) index[e] = picked[(e / inner) % ys[a]];
            return new Tensor[]{scatter(s, a, Tensor.ofInts(index, ys), g)};
        }, this);
    }

    // ------------------------------------------------------------ fused ops

    /**
     * silu(this) ⊙ up, the SwiGLU feed-forward's product (Shazeer 2020, eq. 6), as one op on the tape: one pass
     * forward, one backward (da = g⊙u⊙σ(a)·(1 + a·(1 − σ(a))), du = g⊙silu(a)), instead of silu, mul and their rules.
     */
    public Var swiglu(Var up) {
        Tensor a = value, u = up.value;
        return record("swiglu", a.swiglu(u), g -> {
            Backward.SwigluGradients d = Backward.swiglu(a, u, g);
            return new Tensor[]{d.dGate(), d.dUp()};
        }, this, up);
    }

    /**
     * Multi-head scaled dot-product attention as one op on the tape (see {@link Attention}): q [..., Tq, H, D],
     * k [..., Tk, G, D], v [..., Tk, G, Dv] token-major, as the projections leave them; the result is
     * [..., Tq, H, Dv]. The mask [Tq, Tk] is a constant added to the scaled scores, or null. The tape keeps the
     * probabilities, not the scores; the backward pass runs the four products of the unfused rules and one
     * fused softmax-gradient pass, without permute copies.
     */
    public static Var attention(Var q, Var k, Var v, Tensor mask, float scale) {
        Tensor qv = q.value, kv = k.value, vv = v.value;
        Attention.Output o = Attention.forward(qv, kv, vv, mask, scale);
        Tensor probs = o.probs();
        return record("attention", o.out(), g -> {
            Attention.Gradients d = Attention.backward(qv, kv, vv, probs, g, scale);
            return new Tensor[]{d.dq(), d.dk(), d.dv()};
        }, q, k, v);
    }

    @Override public String toString() {
        return "Var" + Shape.str(shape()) + (requiresGrad ? " requires grad" : "") + (node != null ? " from " + node.op : "");
    }
}
