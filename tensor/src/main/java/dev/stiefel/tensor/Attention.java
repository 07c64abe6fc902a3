package dev.stiefel.tensor;

import dev.stiefel.tensor.backend.Backends;

import java.util.Arrays;

/**
 * Scaled dot-product attention (Vaswani et al. 2017, eq. 1) for all heads at once, with grouped-query heads
 * (Ainslie et al. 2023): for query head h and its key/value head g = h / (H/G),
 * <pre>
 *   P_h = softmax(scale · Q_h · K_gᵀ + mask)        [Tq, Tk]
 *   O_h = P_h · V_g                                   [Tq, Dv]
 * </pre>
 * Tensors keep the token-major layout the projections produce: q [..., Tq, H, D], k [..., Tk, G, D],
 * v [..., Tk, G, Dv] (G divides H; the leading dims are equal), and the output is [..., Tq, H, Dv], so the
 * reshape to [..., Tq, H·Dv] before the output projection is free. The products read each head as a strided
 * view: no head-major copy is made. The mask [Tq, Tk] is added to the scaled scores (0 where a query may see
 * a key, −inf where it may not, as {@link Tensor#causalMask}), or null for none. A query row that sees no
 * key at all gets NaN probabilities, as a plain softmax of −inf scores does.
 *
 * <p>{@link #forward} also returns the probabilities [..., H, Tq, Tk], which {@link #backward} needs. The
 * products are the same ones the unfused composition runs (two forward, four backward per head), at full
 * size: masked-out blocks are computed too.
 */
public final class Attention {
    private Attention() {}

    /** The attention output [..., Tq, H, Dv] and the probabilities [..., H, Tq, Tk]. */
    public record Output(Tensor out, Tensor probs) {}

    /** Gradients of the loss with respect to q, k and v, shaped like them (contiguous). */
    public record Gradients(Tensor dq, Tensor dk, Tensor dv) {}

    public static Output forward(Tensor q, Tensor k, Tensor v, Tensor mask, float scale) {
        check("attention", q, k, v, mask);
        Tensor[] r = Backends.current().attention(q, k, v, mask, scale);
        return new Output(r[0], r[1]);
    }

    /**
     * Gradients from the output gradient, given the probabilities {@link #forward} returned:
     * dP = dO·V_gᵀ, dS = scale · P ⊙ (dP − rowsum(dP ⊙ P)), dQ_h = dS·K_g, and dK_g, dV_g summed over the heads
     * of group g: dK_g = Σ dSᵀ·Q_h, dV_g = Σ Pᵀ·dO_h.
     */
    public static Gradients backward(Tensor q, Tensor k, Tensor v, Tensor probs, Tensor gradOut, float scale) {
        check("attention backward", q, k, v, null);
        int nd = q.dim();
        int[] qs = q.shape(), lead = Arrays.copyOf(qs, nd - 3);
        int tq = qs[nd - 3], h = qs[nd - 2], tk = k.size(-3), dv = v.size(-1);
        int[] probsShape = Shape.concat(lead, new int[]{h, tq, tk}), outShape = Shape.concat(lead, new int[]{tq, h, dv});
        if (!Arrays.equals(probs.shape(), probsShape))
            throw new IllegalArgumentException("attention backward: probs " + Shape.str(probs.shape()) + ", expected " + Shape.str(probsShape));
        if (!Arrays.equals(gradOut.shape(), outShape))
            throw new IllegalArgumentException("attention backward: output gradient " + Shape.str(gradOut.shape()) + ", expected " + Shape.str(outShape));
        probs.requireFloating("attention backward");
        gradOut.requireFloating("attention backward");
        Tensor[] r = Backends.current().attentionBackward(q, k, v, probs, gradOut, scale);
        return new Gradients(r[0], r[1], r[2]);
    }

    private static void check(String op, Tensor q, Tensor k, Tensor v, Tensor mask) {
        q.requireFloating(op);
        k.requireFloating(op);
        v.requireFloating(op);
        String shapes = "q " + Shape.str(q.shape()) + ", k " + Shape.str(k.shape()) + ", v " + Shape.str(v.shape());
        if (q.dim() < 3 || k.dim() != q.dim() || v.dim() != q.dim())
            throw new IllegalArgumentException(op + ": expected q [..., Tq, H, D], k [..., Tk, G, D] and v [..., Tk, G, Dv] of one rank, got " + shapes);
        int nd = q.dim();
        int[] qs = q.shape(), ks = k.shape(), vs = v.shape();
        if (!Arrays.equals(Arrays.copyOf(qs, nd - 3), Arrays.copyOf(ks, nd - 3)) || !Arrays.equals(Arrays.copyOf(qs, nd - 3), Arrays.copyOf(vs, nd - 3)))
            throw new IllegalArgumentException(op + ": leading (batch) dims differ: " + shapes);
        if (ks[nd - 1] != qs[nd - 1])
            throw new IllegalArgumentException(op + ": q and k head sizes differ: " + shapes);
        if (vs[nd - 3] != ks[nd - 3] || vs[nd - 2] != ks[nd - 2])
            throw new IllegalArgumentException(op + ": k and v differ in tokens or heads: " + shapes);
        if (ks[nd - 2] == 0 || qs[nd - 2] % ks[nd - 2] != 0)
            throw new IllegalArgumentException(op + ": " + qs[nd - 2] + " query heads cannot be grouped over " + ks[nd - 2] + " key/value heads: " + shapes);
        if (mask != null) {
            mask.requireFloating(op);
            if (!Arrays.equals(mask.shape(), new int[]{qs[nd - 3], ks[nd - 3]}))
                throw new IllegalArgumentException(op + ": mask " + Shape.str(mask.shape()) + ", expected [Tq, Tk] = ["
                        + qs[nd - 3] + ", " + ks[nd - 3] + "] for " + shapes);
        }
    }
}
