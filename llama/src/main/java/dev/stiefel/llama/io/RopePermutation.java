package dev.stiefel.llama.io;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * The reordering of a head's Q/K rows that turns an interleaved-RoPE checkpoint into a rotate-half one and back.
 *
 * <p>Interleaved RoPE rotates feature pairs (2i, 2i+1) of each head; rotate-half RoPE rotates (i, i + d/2).
 * Hugging Face's convert_llama_weights_to_hf.py therefore moves, within every head, row 2i to i and row 2i+1 to
 * i + d/2 ({@code w.view(heads, d/2, 2, in).transpose(1, 2)}); llama.cpp's convert_hf_to_gguf.py undoes it. With
 * P that permutation, q' = P·q, and rope_half(P·q) = P·rope_interleaved(q), so attention scores q·k (a sum over
 * the same pairs) are unchanged and the two checkpoints are the same model.
 */
public final class RopePermutation {
    private RopePermutation() {}

    /** Row r of the rotate-half matrix is row {@code order[r]} of the interleaved one. */
    public static int[] halfFromInterleaved(int heads, int headDim) {
        check(heads, headDim);
        int half = headDim / 2;
        int[] order = new int[heads * headDim];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++) {
                order[h * headDim + i] = h * headDim + 2 * i;
                order[h * headDim + half + i] = h * headDim + 2 * i + 1;
            }
        return order;
    }

    /** Row r of the interleaved matrix is row {@code order[r]} of the rotate-half one (the inverse permutation). */
    public static int[] interleavedFromHalf(int heads, int headDim) {
        int[] forward = halfFromInterleaved(heads, headDim);
        int[] inverse = new int[forward.length];
        for (int r = 0; r < forward.length; r++) inverse[forward[r]] = r;
        return inverse;
    }

    /** Q or K weights [heads·headDim, in] in interleaved row order, reordered for rotate-half RoPE (dtype kept). */
    public static Tensor toHalf(Tensor w, int heads) { return gatherRows(w, halfFromInterleaved(heads, headDim(w, heads))); }

    /** Q or K weights [heads·headDim, in] in rotate-half row order, reordered for interleaved RoPE (dtype kept). */
    public static Tensor toInterleaved(Tensor w, int heads) { return gatherRows(w, interleavedFromHalf(heads, headDim(w, heads))); }

    /**
     * The same model with its Q/K rows in {@code target}'s order: {@code w} itself when it already is, else new
     * weights whose wq/wk are permuted heap copies and whose other tensors are shared with {@code w} (so {@code w}
     * must stay open while the result is used; the result owns nothing to close).
     */
    public static LlamaWeights toLayout(LlamaWeights w, Rope.Layout target) {
        LlamaConfig c = w.config();
        if (c.ropeLayout() == target) return w;
        List<LlamaWeights.Layer> layers = new ArrayList<>();
        for (LlamaWeights.Layer l : w.layers()) {
            // the q/k biases are rows of the same outputs; the q/k norm gains are one head's features
            layers.add(new LlamaWeights.Layer(l.attnNorm(), permute(l.wq(), c.heads(), target), permute(l.wk(), c.kvHeads(), target),
                    l.wv(), l.wo(), l.ffnNorm(), l.wGate(), l.wUp(), l.wDown(),
                    permute(l.bq(), c.heads(), target), permute(l.bk(), c.kvHeads(), target), l.bv(),
                    permute(l.qNorm(), 1, target), permute(l.kNorm(), 1, target)));
        }
        return new LlamaWeights(c.withRopeLayout(target), w.embedding(), layers, w.finalNorm(),
                c.tiedEmbeddings() ? null : w.output(), List.of());
    }

    /** Rows (or elements of a vector) of Q/K outputs for {@code heads} heads in {@code target}'s order; null stays null. */
    private static Tensor permute(Tensor t, int heads, Rope.Layout target) {
        if (t == null) return null;
        return target == Rope.Layout.HALF ? toHalf(t, heads) : toInterleaved(t, heads);
    }

    private static int headDim(Tensor w, int heads) {
        if (w.dim() < 1 || w.dim() > 2 || heads <= 0 || w.size(0) % heads != 0)
            throw new IllegalArgumentException("rope permutation: expected [heads·headDim, in] weights for " + heads + " heads, got "
                    + Shape.str(w.shape()));
        return w.size(0) / heads;
    }

    private static void check(int heads, int headDim) {
        if (heads <= 0 || headDim <= 0 || headDim % 2 != 0)
            throw new IllegalArgumentException("rope permutation: needs heads > 0 and an even head dim, got " + heads + " heads of " + headDim);
    }

    /** out[r] = w[order[r]], in w's dtype (16-bit values are copied exactly); w is a matrix or a vector. */
    static Tensor gatherRows(Tensor w, int[] order) {
        Tensor out = Tensor.empty(w.dtype(), w.shape());
        for (int r = 0; r < order.length; r++) out.narrow(0, r, 1).copyFrom(w.narrow(0, order[r], 1));
        return out;
    }
}
