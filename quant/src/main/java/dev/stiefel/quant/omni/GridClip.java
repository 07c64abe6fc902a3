package dev.stiefel.quant.omni;

import dev.stiefel.autograd.Var;
import dev.stiefel.llama.io.GgmlType;
import dev.stiefel.llama.io.ggml.FileType;
import dev.stiefel.quant.GgmlTarget;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.learn.Lwc;
import dev.stiefel.quant.Ste;
import dev.stiefel.quant.learn.WeightQuantizer;
import dev.stiefel.tensor.Tensor;

import java.util.List;

/**
 * OmniQuant's LWC on one of llama.cpp's grids. LWC learns its clipping (γ, β per row and block) with its own uniform
 * quantizer, groups being the ggml type's blocks; what is written is not LWC's grid: the weight is clamped to the
 * learned range (the range LWC's quantizer represents: [σ(β)·min, σ(γ)·max] of the block, ±max of the two for a
 * symmetric type) and then quantized by the type's reference rule ({@link GgmlTarget#rtn}), so the block headers are
 * the grid's rule, not LWC's scale, and the file holds exactly the weights the model is evaluated with. A matrix the
 * file type stores as F16 (rows that are not whole blocks) learns nothing and is rounded to f16. With LWC off
 * (OmniQuant's LET alone) nothing is clipped: the weight trains unquantized and is folded by the reference rule.
 */
final class GridClip implements WeightQuantizer {
    private final GgmlTarget target;
    private final FileType.Choice choice;
    private final String name;
    private final Lwc lwc;   // null for F16
    private final int block;

    GridClip(GgmlTarget target, FileType.Choice choice, int rows, int cols, String name, boolean learn) {
        this.target = target;
        this.choice = choice;
        this.name = name;
        this.block = choice.type().blockSize();
        this.lwc = choice.type() == GgmlType.F16 || !learn ? null : new Lwc(learningSpec(choice.type()), rows, cols);
    }

    /** LWC's quantizer while it learns: the type's bits and symmetry, one group per block. */
    static QuantSpec learningSpec(GgmlType t) {
        QuantSpec s = GgmlTarget.approximateSpec(t);
        return QuantSpec.weights(s.bits(), s.symmetric(), t.blockSize());
    }

    @Override public Var quantize(Var w, Ste ste) { return lwc == null ? w : lwc.quantize(w, ste); }

    @Override public List<Var> parameters() { return lwc == null ? List.of() : lwc.parameters(); }

    @Override public Tensor fold(Tensor w) {
        if (choice.type() == GgmlType.F16) return target.recordF16(w, choice);
        if (lwc == null) return target.rtn(w, choice, name);
        return target.rtn(Tensor.wrap(clamp(w.toFloatArray(), w.size(0), w.size(1)), w.shape()), choice, name);
    }

    /** w [rows, cols] with every block clamped to its learned range. */
    float[] clamp(float[] w, int rows, int cols) {
        boolean symmetric = lwc.spec().symmetric();
        float[] out = w.clone();
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols / block; j++) {
                int from = r * cols + j * block;
                float max = Float.NEGATIVE_INFINITY, min = Float.POSITIVE_INFINITY;
                for (int i = 0; i < block; i++) { max = Math.max(max, w[from + i]); min = Math.min(min, w[from + i]); }
                float hi = sigmoid(lwc.gamma(r, j)) * max, lo = sigmoid(lwc.beta(r, j)) * min;
                if (symmetric) { hi = Math.max(hi, -lo); lo = -hi; }
                for (int i = 0; i < block; i++) out[from + i] = Math.min(Math.max(out[from + i], lo), hi);
            }
        return out;
    }

    private static float sigmoid(float x) { return (float) (1 / (1 + Math.exp(-x))); }

    @Override public String toString() { return "GridClip[" + choice.type() + ", " + lwc + "]"; }
}
