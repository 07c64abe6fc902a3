package dev.stiefel.quant.omni;

import dev.stiefel.quant.pipeline.BlockDriver;
import dev.stiefel.quant.ActivationQuantizer;
import static dev.stiefel.quant.ActivationQuantizer.Gradient.THROUGH_RANGE;
import dev.stiefel.quant.learn.Lwc;
import dev.stiefel.quant.learn.WeightQuantizer;
import dev.stiefel.quant.pipeline.BlockwiseCalibration;
import dev.stiefel.autograd.LrSchedule;
import dev.stiefel.autograd.Optimizer;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.quant.Linears;
import dev.stiefel.quant.pipeline.Method;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.QuantHooks;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.pipeline.Report;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.quant.WeightsBuilder;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.calib.Fingerprints;
import dev.stiefel.quant.pipeline.Steps;
import dev.stiefel.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * OmniQuant (Shao et al., <i>OmniQuant: Omnidirectionally Calibrated Quantization for Large Language Models</i>,
 * ICLR 2024), block by block as the reference's {@code quantize/omniquant.py}:
 * <ol>
 *   <li>the calibration samples' embeddings enter block 0, twice: as the full-precision model's inputs and as the
 *       quantized model's;</li>
 *   <li>block l runs in full precision on the full-precision inputs: its outputs are the training targets (and the
 *       next block's full-precision inputs), and the channel maxima of its linear inputs initialise LET;</li>
 *   <li>LWC's γ, β (per row or group, σ(4) ≈ 0.982) and LET's scales (SmoothQuant-style) are learned by AdamW,
 *       one calibration sample per step, minimising ‖F(W, X_fp) − F(Q(W'), X_q')‖² (eq. 1) between the targets and the
 *       quantized block (LET-transformed, LWC-quantized weights; quantized activations) run on the quantized inputs;</li>
 *   <li>the learned parameters are folded into the block (norm gains, weights, then the final grid), and the folded
 *       block, with activation quantization, turns the quantized inputs into the next block's;</li>
 *   <li>the block is saved to the work directory, if one is set, so an interrupted run resumes after it.</li>
 * </ol>
 * Only one block's activations are held (the full-precision outputs, the quantized inputs, and for the augmented loss
 * the full-precision block on the quantized inputs), in memory or, with a work directory, in files read one sample at
 * a time. The embedding and head are left in full precision unless the config asks (then RTN), as everywhere else.
 */
public final class OmniQuant implements Method {

    /** {@link Options#epochs()} value that picks the reference scripts' count: 40 for 2-bit weights, 20 otherwise. */
    public static final int AUTO = -1;

    /**
     * @param epochs        passes over the calibration set per block ({@link #AUTO}: 40 at 2 bits, else 20; 0: no training,
     *                      LWC and LET keep their initial values)
     * @param lwc           learnable weight clipping (when weights are quantized)
     * @param let           learnable equivalent transformation; null: on when activations or K/V are quantized, as the
     *                      reference scripts use it (W4A4, W6A6) and leave it out for weight-only settings
     * @param lwcLr         AdamW learning rate of γ and β (1e-2)
     * @param letLr         AdamW learning rate of LET's scales (5e-3)
     * @param alpha         SmoothQuant migration strength of LET's initial scales (0.5)
     * @param augLoss       also match the full-precision block run on the quantized inputs (the reference's aug_loss);
     *                      null: on for 2-bit weight-only settings, as the reference's W2A16 scripts
     * @param quantizeQuery quantize Q after RoPE with K's spec when K is quantized, as the reference's W4A4 does
     * @param workDir       where block states and activation caches go (a run there resumes); null: all in memory
     */
    public record Options(int epochs, boolean lwc, Boolean let, double lwcLr, double letLr, double alpha, Boolean augLoss,
                          boolean quantizeQuery, Path workDir) {
        public Options {
            if (epochs < AUTO) throw new IllegalArgumentException("omniquant: epochs must be >= 0 (or AUTO), got " + epochs);
            if (!(lwcLr >= 0 && Double.isFinite(lwcLr)) || !(letLr >= 0 && Double.isFinite(letLr)))
                throw new IllegalArgumentException("omniquant: learning rates must be finite and >= 0, got lwc " + lwcLr + ", let " + letLr);
            if (!(alpha >= 0 && alpha <= 1)) throw new IllegalArgumentException("omniquant: alpha must be in [0, 1], got " + alpha);
        }

        /** The reference's defaults (the command line's flags name them from here). */
        public static final double DEFAULT_LWC_LR = 1e-2, DEFAULT_LET_LR = 5e-3, DEFAULT_ALPHA = 0.5;

        public static Options defaults() { return new Options(AUTO, true, null, DEFAULT_LWC_LR, DEFAULT_LET_LR, DEFAULT_ALPHA, null, true, null); }

        public Options withEpochs(int e) { return new Options(e, lwc, let, lwcLr, letLr, alpha, augLoss, quantizeQuery, workDir); }

        public Options withLwc(boolean on) { return new Options(epochs, on, let, lwcLr, letLr, alpha, augLoss, quantizeQuery, workDir); }

        public Options withLet(Boolean on) { return new Options(epochs, lwc, on, lwcLr, letLr, alpha, augLoss, quantizeQuery, workDir); }

        public Options withLearningRates(double lwcRate, double letRate) {
            return new Options(epochs, lwc, let, lwcRate, letRate, alpha, augLoss, quantizeQuery, workDir);
        }

        public Options withAlpha(double a) { return new Options(epochs, lwc, let, lwcLr, letLr, a, augLoss, quantizeQuery, workDir); }

        public Options withAugLoss(Boolean on) { return new Options(epochs, lwc, let, lwcLr, letLr, alpha, on, quantizeQuery, workDir); }

        public Options withQuantizeQuery(boolean on) { return new Options(epochs, lwc, let, lwcLr, letLr, alpha, augLoss, on, workDir); }

        public Options withWorkDir(Path dir) { return new Options(epochs, lwc, let, lwcLr, letLr, alpha, augLoss, quantizeQuery, dir); }

        /** The settings for one configuration, every "auto" decided. */
        Settings resolve(QuantConfig c) {
            boolean lowBitWeightOnly = c.weight() != null && c.weight().bits() <= 2 && c.activation() == null;
            return new Settings(epochs == AUTO ? (c.weight() != null && c.weight().bits() <= 2 ? 40 : 20) : epochs,
                    lwc && c.weight() != null,
                    let != null ? let : c.activation() != null || c.key() != null || c.value() != null,
                    augLoss != null ? augLoss : lowBitWeightOnly,
                    quantizeQuery && c.key() != null);
        }
    }

    record Settings(int epochs, boolean lwc, boolean let, boolean augLoss, boolean quantizeQuery) {}

    /** Called as the run advances; tests throw from it to interrupt a run at a chosen point. */
    interface Listener extends BlockDriver.Listener {}

    private final String name;
    private final Options options;
    private Listener listener = new Listener() {};

    public OmniQuant() { this("omniquant", Options.defaults()); }

    public OmniQuant(Options options) { this("omniquant", options); }

    /** A named variant (the ablations register as omniquant-lwc, omniquant-let, ...). */
    public OmniQuant(String name, Options options) {
        this.name = name;
        this.options = options;
    }

    OmniQuant withListener(Listener l) {
        OmniQuant o = new OmniQuant(name, options);
        o.listener = l;
        return o;
    }

    public Options options() { return options; }

    @Override public String name() { return name; }

    @Override public QuantizedModel apply(LlamaWeights fp, CalibrationData calibration, QuantConfig config, ProgressFactory progress) {
        if (calibration == null) throw new IllegalArgumentException(name + ": needs calibration data (the reference uses 128 samples of 2048 tokens)");
        Settings s = options.resolve(config);
        if (s.epochs() > 0 && !s.lwc() && !s.let())
            throw new IllegalArgumentException(name + ": nothing to learn for " + config.shorthand()
                    + " (LWC needs quantized weights; LET is off); turn one of them on or use epochs 0");
        // quantizers first: a config OmniQuant cannot run fails before any work
        ActivationQuantizer act = config.activation() == null ? null : ActivationQuantizer.linearInput(config.activation(), THROUGH_RANGE);
        ActivationQuantizer key = config.key() == null ? null : ActivationQuantizer.of(config.key(), THROUGH_RANGE);
        ActivationQuantizer value = config.value() == null ? null : ActivationQuantizer.of(config.value(), THROUGH_RANGE);
        ActivationQuantizer query = s.quantizeQuery() ? ActivationQuantizer.of(config.key(), THROUGH_RANGE) : null;
        Hooks inference = query == null ? QuantHooks.of(config) : QuantHooks.of(config).then(new QueryQuantHooks(query));

        LlamaConfig c = fp.config();
        BlockDriver.Resume resume = options.workDir() == null ? null
                : new BlockDriver.Resume(options.workDir(), name + "-" + config.shorthand().replace(" ", ""), fingerprint(fp, calibration, config, s));
        BlockwiseCalibration driver = new BlockwiseCalibration(name, resume, true, s.augLoss(), progress, listener);
        BlockDriver.Result result = driver.run(fp, calibration, (l, maxima) -> {
            LlamaWeights.Layer w = fp.layer(l);
            Let let = s.let() ? Let.smoothQuant(c, w, maxima, options.alpha()) : null;
            Map<Linear, WeightQuantizer> wq = new EnumMap<>(Linear.class);
            if (config.ggml() != null)   // llama.cpp's grids: LWC learns the clipping, the grid's rule makes the blocks
                for (Linear which : Linears.BLOCK) {
                    Tensor t = Linears.weight(fp, l, which);
                    wq.put(which, new GridClip(config.ggml(), config.ggml().choose(l, c.layers(), which, t.size(1)), t.size(0), t.size(1), Linears.name(l, which), s.lwc()));
                }
            else if (config.weight() != null) {
                Quantizer fixed = new Quantizer(config.weight());
                for (Linear which : Linears.BLOCK) {
                    Tensor t = Linears.weight(fp, l, which);
                    wq.put(which, s.lwc() ? new Lwc(config.weight(), t.size(0), t.size(1))
                            : WeightQuantizer.fixed(fixed, Linears.name(l, which) + ".weight"));
                }
            }
            BlockHooks hooks = new BlockHooks(l, let, wq, act, query, key, value).recomputingWeights(BlockHooks.recomputesWeights(fp, l));
            return new BlockwiseCalibration.Block() {
                @Override public Report.BlockFigures train(BlockwiseCalibration.Trainer trainer) { return OmniQuant.this.train(hooks, trainer, s.epochs()); }

                @Override public LlamaWeights.Layer fold() { return hooks.fold(w); }
            };
        }, online -> inference);
        List<LlamaWeights.Layer> done = result.layers();

        WeightsBuilder b = new WeightsBuilder(fp);
        Map<String, Report.TensorError> errors = Steps.figures();
        Steps.embeddingAndHead(b, config, errors);
        LlamaWeights quantized = withLayers(b.build(), done);
        Report report = Report.of(name).withCalibration(calibration.describe()).with(section(s, query != null ? config.key() : null))
                .withBlocks(result.blocks(), result.resumed()).withWeightError(errors);
        if (s.let() && fp.config().architecture().qkNorm()) report = report.withSkipped(Let.identity(fp.config()).skipped()); // Qwen3: no Q→K scales
        return new QuantizedModel(quantized, inference, config, List.of(), report);
    }

    /**
     * Learns block l's parameters: AdamW (weight decay 0, constant rates as the reference) over epochs × samples steps
     * of one sample each, LET's scales truncated away from 0 before every forward. Reports the block MSE over the whole
     * calibration set before and after, and each epoch's mean training loss.
     */
    private Report.BlockFigures train(BlockHooks hooks, BlockwiseCalibration.Trainer trainer, int epochs) {
        List<Var> lwcParams = hooks.lwcParameters(), letParams = hooks.letParameters();
        List<Optimizer> optimizers = new ArrayList<>();
        if (!lwcParams.isEmpty()) optimizers.add(Optimizer.adamW(lwcParams, LrSchedule.constant(options.lwcLr()), 0.9, 0.999, 1e-8, 0));
        if (!letParams.isEmpty()) optimizers.add(Optimizer.adamW(letParams, LrSchedule.constant(options.letLr()), 0.9, 0.999, 1e-8, 0));
        Runnable truncate = hooks.let() == null ? () -> {} : hooks.let()::truncate;
        double before = Steps.round(trainer.loss(hooks, truncate));
        List<Double> epochLoss = trainer.run(hooks, new BlockwiseCalibration.Loop(null, epochs, 1, optimizers, truncate, null,
                "lower the learning rates (lwc " + options.lwcLr() + ", let " + options.letLr() + ")"));
        return Report.BlockFigures.learned(before, epochLoss, Steps.round(trainer.loss(hooks, truncate)));
    }

    // ------------------------------------------------------------ helpers

    /** {@code w} with its blocks replaced by {@code layers} (norms included, which WeightsBuilder keeps). */
    static LlamaWeights withLayers(LlamaWeights w, List<LlamaWeights.Layer> layers) { return BlockDriver.withLayers(w, layers); }

    /**
     * What the report shows of the settings: epochs, which of LWC and LET learned, their rates, LET's α, the augmented
     * loss, whether Q is quantized and with which spec (null when not), and how the parameters start and learn.
     */
    public record Section(int epochs, boolean lwc, boolean let, double lwcLr, double letLr, double alpha, boolean augLoss,
                          boolean quantizeQuery, String query, String lwcInit, String letInit, String optimizer) implements Report.Section {
        @Override public String key() { return "omniquant"; }
    }

    private Section section(Settings s, QuantSpec query) {
        return new Section(s.epochs(), s.lwc(), s.let(), options.lwcLr(), options.letLr(), options.alpha(), s.augLoss(),
                query != null, query == null ? null : query + " (as OmniQuant's W4A4: Q after RoPE, with K's spec)",
                "gamma = beta = " + Lwc.INIT + " (sigmoid " + Steps.round(1 / (1 + Math.exp(-Lwc.INIT))) + ")",
                "SmoothQuant max|X|^alpha / max|W|^(1-alpha) for attn/mlp/out, 1 for qk; no shift (let_shift off)",
                "AdamW betas (0.9, 0.999), eps 1e-8, weight decay 0, constant learning rates, batch size 1");
    }

    /** What the result depends on: model (config and a checksum of every weight), data (every token), config, options. */
    private String fingerprint(LlamaWeights fp, CalibrationData calibration, QuantConfig config, Settings s) {
        return String.format(Locale.ROOT, "omniquant-2 %s | %s | %s lwc_lr=%s let_lr=%s alpha=%s | calibration %s seed %d n=%d T=%d crc %08x | model %s crc %08x",
                name, config, s, options.lwcLr(), options.letLr(), options.alpha(), calibration.source(), calibration.seed(), calibration.size(),
                calibration.seqLen(), Fingerprints.tokens(calibration), fp.config(), Fingerprints.model(fp));
    }

    @Override public String toString() { return name + options; }
}
