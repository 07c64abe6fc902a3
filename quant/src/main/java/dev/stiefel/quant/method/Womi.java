package dev.stiefel.quant.method;

import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.quant.transform.DoubleWeights;
import dev.stiefel.quant.transform.NormFold;
import dev.stiefel.quant.transform.Rotation;
import dev.stiefel.quant.transform.Transforms;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;

import java.util.List;

/**
 * WOMI, OSTQuant's weight outlier minimisation initialisation (Hu et al., ICLR 2025, §3.3): a rotation starts as
 * Q·H, Q the eigenvectors of the covariance of the weights it acts on and H a (random) Hadamard matrix. Q turns the
 * weights' input space to its principal axes (decorrelated, energy sorted by eigenvalue) and H then spreads each axis's
 * energy evenly over all channels, so no channel of the rotated weights stands out.
 * <ul>
 *   <li>R (residual stream): C = Σ Wᵀ·W over the readers (q, k, v, gate, up: W·R) plus Σ W·Wᵀ over the writers
 *       (o, down: Rᵀ·W) of every layer, on the norm-folded weights;</li>
 *   <li>R_h (V → O, per layer): C = Σ_h W_v[h]·W_v[h]ᵀ + Σ_h' W_o[:, h']ᵀ·W_o[:, h'] over the layer's heads.</li>
 * </ul>
 */
public final class Womi {
    private Womi() {}

    /** An OSTQuant view whose R and R_h start from WOMI (the residual Hadamard's signs from {@code seed}). */
    public static OstQuantView view(LlamaWeights fp, OstQuantView.Options options, long seed) {
        DoubleWeights w = Transforms.fuse(fp, List.of(NormFold.all())).exact();
        LlamaConfig c = fp.config();
        DMatrix[] heads = new DMatrix[c.layers()];
        for (int l = 0; l < c.layers(); l++) heads[l] = headRotation(w, l);
        return new OstQuantView(fp, options, residualRotation(w, seed), heads);
    }

    /** The eigenvectors of C (columns, by decreasing eigenvalue) times H: the matrix whose columns the rows are mapped on. */
    static DMatrix eigenTimesHadamard(DMatrix cov, Rotation h) {
        DMatrix q = Linalg.eigSymmetric(symmetrize(cov)).vectors();
        // Q·H: each row of Q times H
        DMatrix out = q.copy();
        h.multiplyRows(out.data, 0, out.rows);
        return out;
    }

    /** R = Q·H for the residual stream. */
    public static DMatrix residualRotation(DoubleWeights w, long seed) {
        LlamaConfig c = w.config();
        DMatrix cov = new DMatrix(c.dim(), c.dim());
        for (int l = 0; l < c.layers(); l++) {
            for (Linear r : List.of(Linear.Q, Linear.K, Linear.V, Linear.GATE, Linear.UP)) addGram(cov, w.linear(l, r), true);
            for (Linear r : List.of(Linear.O, Linear.DOWN)) addGram(cov, w.linear(l, r), false);
        }
        return eigenTimesHadamard(cov, Rotation.randomHadamard(c.dim(), seed));
    }

    /** R_h = Q_h·H for layer l's V → O path. */
    public static DMatrix headRotation(DoubleWeights w, int l) {
        LlamaConfig c = w.config();
        int hd = c.headDim();
        DMatrix cov = new DMatrix(hd, hd), v = w.linear(l, Linear.V), o = w.linear(l, Linear.O);
        for (int h = 0; h < c.kvHeads(); h++)
            for (int i = 0; i < hd; i++)
                for (int j = 0; j < hd; j++) {
                    double s = 0;
                    for (int k = 0; k < v.cols; k++) s += v.data[(h * hd + i) * v.cols + k] * v.data[(h * hd + j) * v.cols + k];
                    cov.data[i * hd + j] += s;
                }
        for (int h = 0; h < c.heads(); h++)
            for (int i = 0; i < hd; i++)
                for (int j = 0; j < hd; j++) {
                    double s = 0;
                    for (int r = 0; r < o.rows; r++) s += o.data[r * o.cols + h * hd + i] * o.data[r * o.cols + h * hd + j];
                    cov.data[i * hd + j] += s;
                }
        return eigenTimesHadamard(cov, Rotation.hadamard(hd));
    }

    /** cov += Wᵀ·W (columns: inputs) or W·Wᵀ (rows: outputs). */
    private static void addGram(DMatrix cov, DMatrix w, boolean columns) {
        int n = cov.rows, m = columns ? w.rows : w.cols;
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) {
                double s = 0;
                for (int k = 0; k < m; k++)
                    s += columns ? w.data[k * w.cols + i] * w.data[k * w.cols + j] : w.data[i * w.cols + k] * w.data[j * w.cols + k];
                cov.data[i * n + j] += s;
                if (i != j) cov.data[j * n + i] += s;
            }
    }

    /**
     * Σ|W − Q(W)| / Σ|W| over every linear of the blocks, Q the weight quantizer of {@code spec} (round to nearest): the
     * figure OSTQuant compares WOMI against a random Hadamard start by.
     */
    public static double relativeL1Error(dev.stiefel.llama.LlamaWeights w, dev.stiefel.quant.QuantSpec spec) {
        dev.stiefel.quant.Quantizer q = new dev.stiefel.quant.Quantizer(spec);
        double err = 0, norm = 0;
        for (int l = 0; l < w.config().layers(); l++)
            for (Linear which : dev.stiefel.quant.Linears.BLOCK) {
                dev.stiefel.tensor.Tensor t = dev.stiefel.quant.Linears.weight(w, l, which);
                float[] a = t.toFloatArray(), b = q.fakeQuant(t, dev.stiefel.quant.Linears.name(l, which)).toFloatArray();
                for (int i = 0; i < a.length; i++) {
                    err += Math.abs(a[i] - b[i]);
                    norm += Math.abs(a[i]);
                }
            }
        return err / norm;
    }

    private static DMatrix symmetrize(DMatrix a) {
        DMatrix s = a.copy();
        for (int i = 0; i < a.rows; i++)
            for (int j = 0; j < a.cols; j++) s.data[i * a.cols + j] = 0.5 * (a.data[i * a.cols + j] + a.data[j * a.cols + i]);
        return s;
    }
}
