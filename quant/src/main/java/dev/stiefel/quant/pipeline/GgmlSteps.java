package dev.stiefel.quant.pipeline;

import dev.stiefel.quant.GgmlTarget;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.io.GgmlType;
import dev.stiefel.llama.io.ggml.FileType;
import dev.stiefel.quant.Linears;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.WeightsBuilder;
import dev.stiefel.tensor.Tensor;

import java.util.Map;

/**
 * The shared weight steps ({@link Steps#rtnLinears}, {@link Steps#embeddingAndHead}) on llama.cpp's grids: each
 * matrix gets its type from the target's file type, RTN is the format's reference quantization, and a fallback is
 * named in the report beside the matrix's error.
 */
public final class GgmlSteps {
    private GgmlSteps() {}

    public static void rtnLinears(WeightsBuilder b, GgmlTarget target, Map<String, Report.TensorError> errors) {
        int layers = b.base().config().layers();
        for (int l = 0; l < layers; l++)
            for (Linear which : Linears.BLOCK) {
                String name = Linears.name(l, which);
                Tensor w = b.get(l, which);
                FileType.Choice choice = target.choose(l, layers, which, w.size(1));
                Tensor wq = target.rtn(w, choice, name);
                b.set(l, which, wq);
                errors.put(name, entry(w, wq, choice));
            }
    }

    /** The embedding and the head, always (llama-quantize quantizes both); a tied pair stays one tensor, with the head's type. */
    public static void embeddingAndHead(WeightsBuilder b, GgmlTarget target, Map<String, Report.TensorError> errors) {
        LlamaWeights base = b.base();
        boolean tied = base.output() == base.embedding();
        Tensor e = base.embedding();
        FileType.Choice ce = target.chooseEmbedding(tied, e.size(1));
        Tensor eq = target.rtn(e, ce, "model.embed_tokens.weight");
        b.embedding(eq);
        errors.put("model.embed_tokens", entry(e, eq, ce));
        if (tied) {
            b.head(eq);
            return;
        }
        Tensor h = base.output();
        FileType.Choice ch = target.choose(0, base.config().layers(), Linear.HEAD, h.size(1));
        Tensor hq = target.rtn(h, ch, "lm_head.weight");
        b.head(hq);
        errors.put("lm_head", entry(h, hq, ch));
    }

    /**
     * Rotation methods on llama.cpp's grids keep only the transforms that fold into the weights (llama.cpp runs no online
     * transform). A quantized K cache would need the Hadamard on Q and K after RoPE (QuaRot's, SpinQuant's R3), which
     * only runs online: refused, naming it, rather than quantizing K without it.
     */
    public static void refuseOnlineQk(String method, QuantConfig config) {
        if (config.ggml() != null && config.key() != null)
            throw new IllegalArgumentException(method + " on llama.cpp's " + config.ggml().fileType() + " grids: a quantized K cache needs the online "
                    + "Hadamard on Q and K after RoPE (R3), which llama.cpp cannot run; use a weight-only config");
    }

    /** A report entry: the relative error, and the type (with the fallback's reason) where it is not the default. */
    public static Report.TensorError entry(Tensor w, Tensor wq, FileType.Choice choice) {
        double err = Steps.round(Steps.relativeError(w, wq));
        return new Report.TensorError(err, choice.type() == GgmlType.F32 ? null : choice.type().toString(), choice.fallback());
    }
}
