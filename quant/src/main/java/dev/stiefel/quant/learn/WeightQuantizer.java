package dev.stiefel.quant.learn;

import dev.stiefel.quant.Ste;
import dev.stiefel.autograd.Var;
import dev.stiefel.quant.QuantParams;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.quant.pipeline.Steps;
import dev.stiefel.tensor.Tensor;

import java.util.List;

/**
 * How one linear weight is quantized while a block is calibrated: {@link Lwc} with its learnable clipping, or
 * {@link #fixed} round-to-nearest on the spec's own grid (OmniQuant without LWC).
 */
public interface WeightQuantizer {

    /** Ŵ on the tape, from the (possibly transformed) weight W [rows, cols]. */
    Var quantize(Var w, Ste ste);

    /** The weight as written into the quantized model (packed codes or f32: the same values). */
    Tensor fold(Tensor w);

    /** Learnable parameters (none for a fixed grid). */
    List<Var> parameters();

    /**
     * Round-to-nearest with the quant core's {@link Quantizer}: scales and zero points found on the weight's current
     * values (with the spec's clipping, if any), the weight passing by straight-through rounding, the gradient also
     * reaching it through the row's (or group's) scale as in the reference's min-max quantizer
     * ({@link Quantizer#fakeQuantThroughRange}). Its fold is {@code Quantizer.fakeQuant} exactly.
     */
    static WeightQuantizer fixed(Quantizer q, String name) {
        return new WeightQuantizer() {
            @Override public Var quantize(Var w, Ste ste) {
                QuantParams p = q.fit(w.value(), name);   // on a device, only each group's extremes come over
                return Quantizer.fakeQuantThroughRange(w, p, q.spec().clipping(), ste);
            }

            @Override public Tensor fold(Tensor w) { // as RTN keeps it: packed codes where a packed matrix holds the grid
                float[] v = w.toFloatArray();
                int rows = w.size(0), cols = w.size(1);
                return Steps.packedOrF32(v, rows, cols, q.fit(v, rows, cols, name), q.spec());
            }

            @Override public List<Var> parameters() { return List.of(); }

            @Override public String toString() { return "rtn[" + q.spec() + "]"; }
        };
    }
}
