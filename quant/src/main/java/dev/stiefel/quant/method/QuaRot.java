package dev.stiefel.quant.method;

import dev.stiefel.quant.pipeline.WeightStage;
import dev.stiefel.quant.pipeline.Steps;
import dev.stiefel.quant.pipeline.GgmlSteps;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.quant.pipeline.Method;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.pipeline.Report;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.transform.HeadRotation;
import dev.stiefel.quant.transform.NormFold;
import dev.stiefel.quant.transform.OnlineRotation;
import dev.stiefel.quant.transform.QkRotation;
import dev.stiefel.quant.transform.ResidualRotation;
import dev.stiefel.quant.transform.Transform;
import dev.stiefel.quant.transform.Transforms;

import java.util.ArrayList;
import java.util.List;

/**
 * QuaRot (Ashkboos et al., NeurIPS 2024): rotate the model so that no activation has outlier channels, then quantize
 * weights, activations and the KV cache. Following spcl/QuaRot's {@code fuse_layer_norms} and {@code rotate_model}:
 * <ol>
 *   <li>fold every RMSNorm gain into the linears after it ({@link NormFold});</li>
 *   <li>rotate the residual stream by a random Hadamard matrix Q (seeded), fused into the embedding, every reader
 *       (W·Q) and writer (Qᵀ·W) and the head ({@link ResidualRotation});</li>
 *   <li>a Hadamard matrix per head fused into v_proj's rows and o_proj's columns ({@link HeadRotation});</li>
 *   <li>online Hadamards: before down_proj (its inverse fused into down_proj) and across heads before o_proj (H_heads ⊗
 *       I, making o_proj's input rotated by a full Hadamard with step 3) ({@link OnlineRotation});</li>
 *   <li>when the K cache is quantized, a Hadamard on Q and K after RoPE ({@link QkRotation});</li>
 *   <li>weights by RTN ({@code quarot-rtn}) or GPTQ on the rotated model ({@code quarot-gptq}); activations and the
 *       KV cache by the config's quantizers, after the online rotations.</li>
 * </ol>
 * Before quantizing, the rotated model is checked against the original (the report's {@code equivalence}).
 *
 * <p>On llama.cpp's grids ({@code --config Q4_0}, ...) the file must be the whole model, and llama.cpp runs no online
 * transform: only the rotations that fold into the weights are applied (steps 1–3, R1 and R2 in SpinQuant's naming,
 * {@link #foldedTransforms}), the online Hadamards of step 4 are left out (named in the report's
 * {@code online_left_out}), and a quantized K cache, whose Q/K Hadamard (step 5) can only run online, is refused. These
 * are the transforms of SpinQuant's variant without online Hadamards, with QuaRot's fixed Hadamards for its learned
 * rotations.
 *
 * @param options seed, online rotations and GPTQ's options
 * @param useGptq weights by GPTQ on the rotated model ({@code quarot-gptq}) instead of RTN ({@code quarot-rtn})
 */
public record QuaRot(Options options, boolean useGptq) implements Method {


    /**
     * @param seed        the residual rotation's random signs
     * @param acrossHeads the online Hadamard across heads at o_proj's input (QuaRot's online_partial_had)
     * @param gptq        GPTQ's options for quarot-gptq
     */
    public record Options(long seed, boolean acrossHeads, Gptq.Options gptq) {
        public static Options defaults() { return new Options(0, true, Gptq.Options.defaults()); }

        public Options withSeed(long s) { return new Options(s, acrossHeads, gptq); }

        public Options withGptq(Gptq.Options g) { return new Options(seed, acrossHeads, g); }
    }

    public static QuaRot rtn() { return new QuaRot(Options.defaults(), false); }

    public static QuaRot gptq() { return new QuaRot(Options.defaults(), true); }

    @Override public String name() { return useGptq ? "quarot-gptq" : "quarot-rtn"; }

    /** The transforms, in order (Q/K rotation only when {@code keyQuantized}). */
    public static List<Transform> transforms(LlamaConfig c, Options o, boolean keyQuantized) {
        List<Transform> t = new ArrayList<>(foldedTransforms(c, o));
        t.add(OnlineRotation.downProj(c));
        if (o.acrossHeads()) t.add(OnlineRotation.acrossHeads(c));
        if (keyQuantized) t.add(QkRotation.hadamard(c.headDim()));
        return t;
    }

    /** The transforms that fold into the weights entirely: the norm fold, the residual rotation and the per-head rotations. */
    public static List<Transform> foldedTransforms(LlamaConfig c, Options o) {
        return List.of(NormFold.all(), ResidualRotation.randomHadamard(c.dim(), o.seed()), HeadRotation.hadamard(c));
    }

    /** The report's record of the random Hadamard's seed. */
    public record Seeded(long seed) implements Report.Section {
        @Override public String key() { return "quarot"; }
    }

    /** What {@link #transforms} adds at run time and llama.cpp's grids leave out, one line each for the report. */
    private static List<String> onlineLeftOut(LlamaConfig c, Options o) {
        List<String> out = new ArrayList<>();
        out.add(OnlineRotation.downProj(c).describe());
        if (o.acrossHeads()) out.add(OnlineRotation.acrossHeads(c).describe());
        return out;
    }

    @Override public QuantizedModel apply(LlamaWeights fp, CalibrationData calibration, QuantConfig config, ProgressFactory progress) {
        if (useGptq && calibration == null) throw new IllegalArgumentException(name() + ": GPTQ needs calibration data (e.g. 128 samples of 2048 tokens)");
        boolean onGrids = config.ggml() != null;
        GgmlSteps.refuseOnlineQk(name(), config);
        LlamaConfig c = fp.config();
        Transforms.Fused fused;
        try (var bar = progress.open("folding " + name() + "'s rotations", c.layers(), "layers")) {
            fused = Transforms.fuseWithin(fp, onGrids ? foldedTransforms(c, options) : transforms(c, options, config.key() != null), bar);
        }
        Report.Equivalence equivalence = Steps.equivalence(fp, fused, calibration);
        WeightStage weights = useGptq ? new Gptq(options.gptq()) : new Rtn();
        QuantizedModel q = weights.apply(fused.weights(), fused.hooks(), calibration, config, progress);
        // the weights alone are not the model: fused.online() must run at inference (QuantizedModel.online)
        Report report = q.report().withMethod(name()).with(new Seeded(options.seed()))
                .with(new Report.Transformed(fused.steps(), onGrids ? onlineLeftOut(c, options) : List.of(), equivalence));
        return q.withOnline(fused.online(), report);
    }
}
