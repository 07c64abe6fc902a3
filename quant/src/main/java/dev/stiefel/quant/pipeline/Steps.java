package dev.stiefel.quant.pipeline;

import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.MappedPages;
import dev.stiefel.llama.Progress;
import dev.stiefel.quant.Linears;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.QuantHooks;
import dev.stiefel.quant.QuantParams;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.PackedStorage;
import dev.stiefel.tensor.packed.PackedMatrix;
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

    /**
     * A round-to-nearest weight as the model will hold it: as low-bit codes ({@link PackedMatrix}, the fake quantizer's
     * values bit for bit: (c − z_c)·s = (q − z)·s) when {@link #packable}, in an eighth to a quarter of f32's memory,
     * which is what lets a large model's result fit (issue 19); otherwise its f32 fake-quantized values.
     */
    public static Tensor packedOrF32(float[] w, int rows, int cols, QuantParams p, QuantSpec spec) {
        if (!packable(spec, p, rows, cols)) return Tensor.wrap(Quantizer.apply(w, p), rows, cols);
        return PackedStorage.tensor(PackedMatrix.quantize(w, rows, cols, spec.bits(), spec.groupSize(), spec.symmetric(), p.scale(), p.zero()));
    }

    /**
     * The same for a weight whose codes a method chose itself (GPTQ: c = q − qmin in column order, and {@code values}
     * the fake-quantized f32 it propagated its errors against): packed when {@link #packable}, checked equal to
     * {@code values} bit for bit.
     */
    public static Tensor packedOrF32(float[] values, int[] codes, int rows, int cols, QuantParams p, QuantSpec spec, String name) {
        if (codes == null || !packable(spec, p, rows, cols)) return Tensor.wrap(values, rows, cols);
        return checked(PackedMatrix.ofCodes(codes, rows, cols, spec.bits(), spec.groupSize(), spec.symmetric(), p.scale(), p.zero()), values, name);
    }

    /**
     * A learned quantizer's result (OmniQuant's LWC): {@code w} rounded on the grid of {@code p} as packed codes when
     * {@link #packable}, checked equal to {@code folded} (the quantizer's own f32 values) bit for bit; else {@code folded}.
     */
    public static Tensor packedOrFolded(float[] w, Tensor folded, QuantParams p, QuantSpec spec, String name) {
        int rows = folded.size(0), cols = folded.size(1);
        if (!packable(spec, p, rows, cols)) return folded;
        return checked(PackedMatrix.quantize(w, rows, cols, spec.bits(), spec.groupSize(), spec.symmetric(), p.scale(), p.zero()),
                folded.toFloatArray(), name);
    }

    private static Tensor checked(PackedMatrix m, float[] values, String name) {
        int cols = m.cols();
        Parallel.forRange(m.rows(), Math.max(1, (1 << 16) / Math.max(1, cols)), (r0, r1) -> {
            for (int r = r0; r < r1; r++)
                for (int j = 0, i = r * cols; j < cols; j++, i++)
                    if (Float.floatToRawIntBits(m.value(r, j)) != Float.floatToRawIntBits(values[i]))
                        throw new IllegalStateException(name + ": packed element (" + r + ", " + j + ") is " + m.value(r, j) + ", the method's " + values[i]);
        });
        return PackedStorage.tensor(m);
    }

    /**
     * Whether a {@link PackedMatrix} holds weights of this spec and parameters exactly: 2, 3, 4 or 8 bits (the code
     * widths), one parameter set per row and group of consecutive columns, groups a multiple of 32 or per channel
     * (GPTQ's act-order groups are not consecutive: they stay in f32).
     */
    public static boolean packable(QuantSpec spec, QuantParams p, int rows, int cols) {
        int bits = spec.bits(), g = spec.groupSize();
        if (!(bits == 2 || bits == 3 || bits == 4 || bits == 8) || spec.granularity() == QuantSpec.Granularity.PER_TENSOR
                || g % PackedMatrix.BLOCK != 0 || rows == 0 || cols == 0 || p.paramRows() != rows) return false;
        int width = g == 0 ? cols : Math.min(g, cols);
        return java.util.Arrays.equals(p.groupOf(), QuantParams.consecutiveGroups(cols, width));
    }

    /** {@link #relativeError} of w against its fake quantization under p, element by element (no copy of the matrix). */
    static double relativeError(float[] w, QuantParams p) {
        int cols = p.cols(), qmin = p.qmin(), qmax = p.qmax();
        return relativeError(w, i -> {
            int k = p.index(i / cols, i % cols);
            return Quantizer.fakeQuant(w[i], p.scale()[k], p.zero()[k], qmin, qmax);
        });
    }

    /** ||Ŵ − W||_F / ||W||_F, in f64: how far a weight moved. */
    public static double relativeError(Tensor w, Tensor wq) {
        float[] b = wq.toFloatArray();
        return relativeError(w.toFloatArray(), i -> b[i]);
    }

    /** ||Ŵ − W||_F / ||W||_F with Ŵ's element i from {@code quantized}. */
    private static double relativeError(float[] w, java.util.function.IntToDoubleFunction quantized) {
        double num = 0, den = 0;
        for (int i = 0; i < w.length; i++) {
            double d = quantized.applyAsDouble(i) - w[i];
            num += d * d;
            den += (double) w[i] * w[i];
        }
        return den == 0 ? (num == 0 ? 0 : Double.POSITIVE_INFINITY) : Math.sqrt(num / den);
    }

    /**
     * Round-to-nearest of every block linear in {@code b} with the config's weight spec (one progress step per layer);
     * the relative error of each goes into {@code errors} under its module name.
     */
    public static void rtnLinears(WeightsBuilder b, QuantConfig config, ProgressFactory progress, Map<String, Report.TensorError> errors) {
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
                    float[] v = w.toFloatArray();
                    QuantParams params = q.fit(v, w.size(0), w.size(1), name + ".weight");
                    errors.put(name, Report.TensorError.of(round(relativeError(v, params))));
                    b.set(l, which, packedOrF32(v, w.size(0), w.size(1), params, config.weight()));
                }
                MappedPages.doneWith(b.base().layer(l));
                p.step(1);
            }
        }
    }

    /**
     * The embedding table and the output head, by round-to-nearest with the weight spec, when the config asks
     * (the papers keep both in full precision). A tied pair quantized on both sides stays one tensor.
     */
    public static void embeddingAndHead(WeightsBuilder b, QuantConfig config, Map<String, Report.TensorError> errors) {
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
            errors.put("model.embed_tokens", Report.TensorError.of(round(relativeError(base.embedding(), emb))));
        }
        if (config.quantizeHead()) {
            Tensor head = tied && emb != null ? emb : rtn(base.output(), q, "lm_head.weight");
            b.head(head);
            errors.put("lm_head", Report.TensorError.of(round(relativeError(base.output(), head))));
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
    public static Report.Equivalence equivalence(LlamaWeights fp, Transforms.Fused fused, CalibrationData calibration) {
        Tensor ids;
        if (calibration != null) ids = calibration.ids(0);
        else {
            java.util.Random rnd = new java.util.Random(0);
            int[] t = new int[Math.min(32, fp.config().maxSeqLen())];
            for (int i = 0; i < t.length; i++) t[i] = rnd.nextInt(fp.config().vocabSize());
            ids = Tensor.ofInts(t, 1, t.length);
        }
        Transforms.Difference d = Transforms.compare(new LlamaModel(fp), fused.model(), List.of(ids));
        return new Report.Equivalence(round(d.maxAbs()), round(d.relative()), ids.size(1));
    }

    /** A report figure to 6 significant digits (reports stay readable; the figures are not bit-exact anyway). */
    public static double round(double v) {
        return Double.isFinite(v) && v != 0 ? Double.parseDouble(String.format(Locale.ROOT, "%.6g", v)) : v;
    }

    /** A fresh ordered map for a report's per-tensor figures (model order). */
    public static <V> Map<String, V> figures() { return new LinkedHashMap<>(); }
}
