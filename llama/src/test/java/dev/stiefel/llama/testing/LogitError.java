package dev.stiefel.llama.testing;

import dev.stiefel.autograd.Grad;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.tensor.Tensor;

import java.util.List;

/** How far one model's logits are from another's, for tests that bound a quantized model's error. */
public final class LogitError {
    private LogitError() {}

    /** ‖logits(q) − logits(fp)‖ / ‖logits(fp)‖ over the sequences (ids [B, T] each), accumulated in f64. */
    public static double relative(LlamaModel fp, LlamaModel q, List<Tensor> sequences) {
        double num = 0, den = 0;
        try (var _ = Grad.off()) {
            for (Tensor ids : sequences) {
                float[] a = fp.forward(ids, null).value().toFloatArray(), b = q.forward(ids, null).value().toFloatArray();
                for (int i = 0; i < a.length; i++) {
                    double d = (double) b[i] - a[i];
                    num += d * d;
                    den += (double) a[i] * a[i];
                }
            }
        }
        return Math.sqrt(num / den);
    }
}
