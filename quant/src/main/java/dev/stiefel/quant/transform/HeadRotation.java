package dev.stiefel.quant.transform;

import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.tensor.linalg.DMatrix;

import java.util.Arrays;

/**
 * A rotation R of each head's value features, fused on both sides of the V→O path (QuaRot's {@code rotate_ov_proj},
 * SpinQuant's R2): v_h ← v_h·R for every KV head (rows of v_proj: W_v[h] ← Rᵀ·W_v[h]), so every query head's
 * attention output a_h = softmax(·)·v_h is rotated too (softmax weights mix tokens, not features), and o_proj undoes it
 * on each query head's columns (W_o[:, h] ← W_o[:, h]·R). Works with GQA: every query head of a group reads the same
 * rotated KV head. Nothing is left online; the V cache then holds rotated values. A v_proj bias (Qwen2) is rotated
 * with the rows.
 *
 * @param perLayer R for each layer (headDim × headDim)
 */
public record HeadRotation(Rotation[] perLayer) implements Transform {

    /** The same R in every layer. */
    public static HeadRotation uniform(Rotation r, int layers) {
        Rotation[] a = new Rotation[layers];
        Arrays.fill(a, r);
        return new HeadRotation(a);
    }

    /** QuaRot's choice: the normalized Hadamard matrix of order headDim in every layer. */
    public static HeadRotation hadamard(LlamaConfig c) { return uniform(Rotation.hadamard(c.headDim()), c.layers()); }

    @Override public String describe() { return "rotate V/O per head by " + perLayer[0].describe() + (allSame() ? "" : " (per layer)"); }

    private boolean allSame() { return Arrays.stream(perLayer).allMatch(r -> r == perLayer[0]); }

    @Override public void fold(DoubleWeights w) {
        LlamaConfig c = w.config();
        if (perLayer.length != c.layers()) throw new IllegalArgumentException("head rotation: " + perLayer.length + " rotations for " + c.layers() + " layers");
        int hd = c.headDim();
        for (int l : w.layerIndices()) {
            Rotation r = perLayer[l];
            if (r.size() != hd) throw new IllegalArgumentException("head rotation: size " + r.size() + " for heads of " + hd + " features");
            // v_proj: each KV head's block of rows [hd, dim] becomes Rᵀ·block: its columns, read as rows, times R
            DMatrix v = w.linear(l, Linear.V).copy();
            double[] col = new double[hd];
            for (int h = 0; h < c.kvHeads(); h++)
                for (int j = 0; j < v.cols; j++) {
                    for (int i = 0; i < hd; i++) col[i] = v.data[(h * hd + i) * v.cols + j];
                    r.multiplyRows(col, 0, 1);
                    for (int i = 0; i < hd; i++) v.data[(h * hd + i) * v.cols + j] = col[i];
                }
            w.setLinear(l, Linear.V, v);
            double[] bv = w.bias(l, Linear.V); // Qwen2: v = h·W_vᵀ + b_v, so b_v rotates with the rows: b_v[h] ← b_v[h]·R
            if (bv != null) for (int h = 0; h < c.kvHeads(); h++) r.multiplyRows(bv, h * hd, 1);
            // o_proj: each query head's columns, a contiguous segment of every row, times R
            DMatrix o = w.linear(l, Linear.O).copy();
            for (int row = 0; row < o.rows; row++)
                for (int h = 0; h < c.heads(); h++) r.multiplyRows(o.data, row * o.cols + h * hd, 1);
            w.setLinear(l, Linear.O, o);
        }
    }
}
