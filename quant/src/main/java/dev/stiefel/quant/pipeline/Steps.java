package dev.stiefel.quant.pipeline;

import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.Progress;
import dev.stiefel.quant.Linears;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.QuantHooks;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.quant.WeightsBuilder;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.pipeline.GgmlSteps;
import dev.stiefel.quant.transform.Transforms;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Steps every method's recipe shares: round-to-nearest of weights, the embedding and head, and the activation hooks. */
public final class Steps {
    private Steps() {}

    /** Fake-quantized copy of a weight [out, in] (any dtype) as a heap f32 tensor. */
    public static Tensor rtn(Tensor w, Quantizer q, String name) { return q.fakeQuant(w, name); }

    /** ||Ŵ − W||_F / ||W||_F, in f64: how far a weight moved. */
    public static double relativeError(Tensor w, Tensor wq) {
        float[] a = w.toFloatArray(), b = wq.toFloatArray();
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            double d = (double) b[i] - a[i];
            num += d * d;
            den += (double) a[i] * a[i];
        }
        return den == 0 ? (num == 0 ? 0 : Double.POSITIVE_INFINITY) : Math.sqrt(num / den);
    }

    /**
     * Round-to-nearest of every block linear in {@code b} with the config's weight spec (one progress step per layer);
     * the relative error of each goes into {@code errors} under its module name.
     */
    public static void rtnLinears(WeightsBuilder b, QuantConfig config, ProgressFactory progress, Map<String, Object> errors) {
        if (config.weight() == null) return;
        if (config.ggml() != null) {
            GgmlSteps.rtnLinears(b, config.ggml(), errors);
            return;
        }
        Quantizer q = new Quantizer(config.weight());
        int layers = b.base().config().layers();
        try (Progress p = progress.open("rtn", layers, "layers")) {
            for (int l = 0; l < layers; l++) {
                for (Linear which : Linears.BLOCK) {
                    String name = Linears.name(l, which);
                    Tensor w = b.get(l, which);
                    Tensor wq = rtn(w, q, name + ".weight");
                    b.set(l, which, wq);
                    errors.put(name, round(relativeError(w, wq)));
                }
                p.step(1);
            }
        }
    }

    /**
     * The embedding table and the output head, by round-to-nearest with the weight spec, when the config asks
     * (the papers keep both in full precision). A tied pair quantized on both sides stays one tensor.
     */
    public static void embeddingAndHead(WeightsBuilder b, QuantConfig config, Map<String, Object> errors) {
        if (config.weight() == null || !(config.quantizeEmbedding() || config.quantizeHead())) return;
        if (config.ggml() != null) {
            GgmlSteps.embeddingAndHead(b, config.ggml(), errors);
            return;
        }
        Quantizer q = new Quantizer(config.weight());
        LlamaWeights base = b.base();
        boolean tied = base.output() == base.embedding();
        Tensor emb = null;
        if (config.quantizeEmbedding()) {
            emb = rtn(base.embedding(), q, "model.embed_tokens.weight");
            b.embedding(emb);
            errors.put("model.embed_tokens", round(relativeError(base.embedding(), emb)));
        }
        if (config.quantizeHead()) {
            Tensor head = tied && emb != null ? emb : rtn(base.output(), q, "lm_head.weight");
            b.head(head);
            errors.put("lm_head", round(relativeError(base.output(), head)));
        }
    }

    /**
     * The activation / KV hooks of a config, after {@code inner}; static specs are calibrated on the calibration
     * samples through the quantized weights (an error without calibration data).
     */
    public static QuantHooks hooks(Hooks inner, QuantConfig config, LlamaWeights quantized, CalibrationData calibration) {
        QuantHooks hooks = QuantHooks.over(inner, config);
        boolean needsStatic = (config.activation() != null && !config.activation().dynamic())
                || (config.key() != null && !config.key().dynamic()) || (config.value() != null && !config.value().dynamic());
        if (!needsStatic) return hooks;
        if (calibration == null) throw new IllegalArgumentException("quantize: static activation or KV scales need calibration data");
        List<Tensor> ids = new ArrayList<>();
        for (int i = 0; i < calibration.size(); i++) ids.add(calibration.ids(i));
        return hooks.calibrate(new LlamaModel(quantized, inner), ids);
    }

    /**
     * How far a fused (transformed, not yet quantized) model's logits are from the original's, for the report: on the
     * first calibration sample, or on 32 seeded random tokens without calibration data. Exactness is tested in f64 by
     * the transform tests; this figure is the f32 round-off a run actually got.
     */
    public static Map<String, Object> equivalence(LlamaWeights fp, Transforms.Fused fused, CalibrationData calibration) {
        Tensor ids;
        if (calibration != null) ids = calibration.ids(0);
        else {
            java.util.Random rnd = new java.util.Random(0);
            int[] t = new int[Math.min(32, fp.config().maxSeqLen())];
            for (int i = 0; i < t.length; i++) t[i] = rnd.nextInt(fp.config().vocabSize());
            ids = Tensor.ofInts(t, 1, t.length);
        }
        Transforms.Difference d = Transforms.compare(new LlamaModel(fp), fused.model(), List.of(ids));
        Map<String, Object> m = section();
        m.put("max_abs_logit_diff", round(d.maxAbs()));
        m.put("relative", round(d.relative()));
        m.put("tokens", ids.size(1));
        return m;
    }

    /** A report figure to 6 significant digits (reports stay readable; the figures are not bit-exact anyway). */
    public static double round(double v) {
        return Double.isFinite(v) && v != 0 ? Double.parseDouble(String.format(Locale.ROOT, "%.6g", v)) : v;
    }

    /** A fresh ordered map for a report section. */
    public static Map<String, Object> section() { return new LinkedHashMap<>(); }
}
