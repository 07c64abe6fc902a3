package dev.stiefel.quant.omni;

import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Losses;
import dev.stiefel.autograd.LrSchedule;
import dev.stiefel.autograd.Optimizer;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.Progress;
import dev.stiefel.quant.Linears;
import dev.stiefel.quant.Method;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.QuantHooks;
import dev.stiefel.quant.QuantizedModel;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.quant.WeightsBuilder;
import dev.stiefel.quant.calib.Capture;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.method.Steps;
import dev.stiefel.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.zip.CRC32;

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

        /** The reference's defaults. */
        public static Options defaults() { return new Options(AUTO, true, null, 1e-2, 5e-3, 0.5, null, true, null); }

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
    interface Listener {
        default void step(int layer, int epoch, int sample) {}

        default void blockSaved(int layer) {}
    }

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
        ActivationQuantizer act = config.activation() == null ? null : ActivationQuantizer.linearInput(config.activation());
        ActivationQuantizer key = config.key() == null ? null : ActivationQuantizer.heads(config.key());
        ActivationQuantizer value = config.value() == null ? null : ActivationQuantizer.heads(config.value());
        ActivationQuantizer query = s.quantizeQuery() ? ActivationQuantizer.heads(config.key()) : null;
        Hooks inference = query == null ? QuantHooks.of(config) : new QueryQuantHooks(QuantHooks.of(config), query);

        Map<String, Object> report = Steps.section();
        report.put("method", name);
        report.putAll(config.describe());
        if (query != null) report.put("q", config.key() + " (as OmniQuant's W4A4: Q after RoPE, with K's spec)");
        report.put("omniquant", describe(s));
        report.put("calibration", calibration.describe());

        LlamaConfig c = fp.config();
        int layers = c.layers();
        List<LlamaWeights.Layer> done = new ArrayList<>(fp.layers());
        WorkDir wd = options.workDir() == null ? null
                : WorkDir.open(options.workDir(), name + "-" + config.shorthand().replace(" ", ""), fingerprint(fp, calibration, config, s));
        int start = wd == null ? 0 : wd.finished();
        for (int l = 0; l < start; l++) done.set(l, wd.loadBlock(l));
        Map<String, Object> blocks = Steps.section();
        if (wd != null) blocks.putAll(wd.blockReports());

        Activations fpIn = null, qIn = null;
        if (start == 0) {
            Activations[] emb = embed(wd, fp, calibration);
            fpIn = emb[0];
            qIn = emb[1];
        } else if (start < layers) {
            fpIn = wd.openActivations("fp", start);
            qIn = wd.openActivations("quant", start);
        }
        for (int l = start; l < layers; l++) {
            long t0 = System.nanoTime();
            LlamaWeights.Layer w = fp.layer(l);
            // full-precision outputs on full-precision inputs: the targets and the next block's full-precision inputs
            ChannelMaxima maxima = new ChannelMaxima(l);
            Activations target = runBlock(new LlamaModel(fp, maxima), l, fpIn, writer(wd, "fp", l + 1, fpIn));
            Activations aug = s.augLoss() ? runBlock(new LlamaModel(fp), l, qIn, writer(wd, "aug", l, null)) : null;

            Let let = s.let() ? Let.smoothQuant(c, w, maxima, options.alpha()) : null;
            Map<Linear, WeightQuantizer> wq = new EnumMap<>(Linear.class);
            if (config.weight() != null) {
                Quantizer fixed = new Quantizer(config.weight());
                for (Linear which : Linears.BLOCK) {
                    Tensor t = Linears.weight(fp, l, which);
                    wq.put(which, s.lwc() ? new Lwc(config.weight(), t.size(0), t.size(1))
                            : WeightQuantizer.fixed(fixed, Linears.name(l, which) + ".weight"));
                }
            }
            BlockHooks hooks = new BlockHooks(l, let, wq, act, query, key, value);
            Map<String, Object> blockReport = train(fp, l, hooks, qIn, target, aug, s.epochs(), progress);

            LlamaWeights.Layer folded = hooks.fold(w);
            done.set(l, folded);
            boolean last = l == layers - 1;
            // the folded block, activations quantized, on the quantized inputs: the next block's quantized inputs
            Activations qOut = last ? null : runBlock(new LlamaModel(withLayers(fp, done), inference), l, qIn, writer(wd, "quant", l + 1, qIn));
            blockReport.put("seconds", Steps.round((System.nanoTime() - t0) * 1e-9));
            blocks.put("model.layers." + l, blockReport);
            if (wd != null) {
                wd.commit(l, folded, blockReport);
                for (Activations a : new Activations[]{fpIn, qIn, aug}) discard(wd, a);
                if (last) discard(wd, target);
            }
            listener.blockSaved(l);
            fpIn = target;
            qIn = qOut;
        }
        if (wd != null) {
            report.put("work_dir", wd.dir().toString());
            if (start > 0) report.put("resumed_after_blocks", start);
        }
        report.put("blocks", blocks);

        WeightsBuilder b = new WeightsBuilder(fp);
        Map<String, Object> errors = Steps.section();
        Steps.embeddingAndHead(b, config, errors);
        LlamaWeights quantized = withLayers(b.build(), done);
        if (!errors.isEmpty()) report.put("rtn_relative_error", errors);
        return new QuantizedModel(quantized, inference, report);
    }

    /**
     * Learns block l's parameters: AdamW (weight decay 0, constant rates as the reference) over epochs × samples steps
     * of one sample each, LET's scales truncated away from 0 before every forward. Reports the block MSE over the whole
     * calibration set before and after, and each epoch's mean training loss.
     */
    private Map<String, Object> train(LlamaWeights fp, int l, BlockHooks hooks, Activations inputs, Activations target, Activations aug,
                                      int epochs, ProgressFactory progress) {
        List<Var> lwcParams = hooks.lwcParameters(), letParams = hooks.letParameters();
        List<Optimizer> optimizers = new ArrayList<>();
        if (!lwcParams.isEmpty()) optimizers.add(Optimizer.adamW(lwcParams, LrSchedule.constant(options.lwcLr()), 0.9, 0.999, 1e-8, 0));
        if (!letParams.isEmpty()) optimizers.add(Optimizer.adamW(letParams, LrSchedule.constant(options.letLr()), 0.9, 0.999, 1e-8, 0));
        LlamaModel model = new LlamaModel(fp, hooks);
        int n = inputs.size(), layers = fp.config().layers();
        Map<String, Object> r = Steps.section();
        r.put("mse_before", Steps.round(blockLoss(model, l, hooks, inputs, target, aug)));
        List<Double> epochLoss = new ArrayList<>();
        try (var on = Grad.on(); Progress p = progress.open(name + " block " + (l + 1) + "/" + layers, (long) epochs * n, "steps")) {
            for (int e = 0; e < epochs; e++) {
                double sum = 0;
                for (int j = 0; j < n; j++) {
                    if (hooks.let() != null) hooks.let().truncate();
                    Var loss = loss(model, l, inputs.get(j), target.get(j), aug == null ? null : aug.get(j));
                    double v = loss.value().item();
                    if (!Double.isFinite(v))
                        throw new IllegalStateException(name + ": the loss of block " + l + " is " + v + " at epoch " + e + ", sample " + j
                                + "; lower the learning rates (lwc " + options.lwcLr() + ", let " + options.letLr() + ")");
                    for (Optimizer o : optimizers) o.zeroGrad();
                    loss.backward();
                    for (Optimizer o : optimizers) o.step();
                    sum += v;
                    p.status(String.format(Locale.ROOT, "epoch %d/%d loss %.4g", e + 1, epochs, sum / (j + 1)));
                    p.step(1);
                    listener.step(l, e, j);
                }
                epochLoss.add(Steps.round(sum / n));
            }
        }
        if (hooks.let() != null) hooks.let().truncate();
        r.put("mse_after", Steps.round(blockLoss(model, l, hooks, inputs, target, aug)));
        r.put("epoch_loss", epochLoss);
        return r;
    }

    /** MSE to the full-precision outputs (plus, with the augmented loss, to the full-precision block on the same inputs). */
    private static Var loss(LlamaModel model, int l, Tensor input, Tensor target, Tensor aug) {
        Var y = model.block(l, Var.of(input), 0, null);
        Var loss = Losses.mse(y, target);
        return aug == null ? loss : loss.add(Losses.mse(y, aug));
    }

    /** The training loss over the whole calibration set with the current parameters (no tape, no update). */
    private static double blockLoss(LlamaModel model, int l, BlockHooks hooks, Activations inputs, Activations target, Activations aug) {
        if (hooks.let() != null) hooks.let().truncate();
        double sum = 0;
        try (var off = Grad.off()) {
            for (int j = 0; j < inputs.size(); j++) sum += loss(model, l, inputs.get(j), target.get(j), aug == null ? null : aug.get(j)).value().item();
        }
        return sum / inputs.size();
    }

    // ------------------------------------------------------------ activations

    private static Activations runBlock(LlamaModel model, int l, Activations in, Activations.Writer out) {
        try (var off = Grad.off()) {
            for (int i = 0; i < in.size(); i++) out.put(model.block(l, Var.of(in.get(i)), 0, null).value());
        }
        return out.finish();
    }

    /** Where a block's outputs go: a file in the work directory, or in memory over the inputs they replace. */
    private static Activations.Writer writer(WorkDir wd, String kind, int index, Activations replacing) {
        if (wd != null) return Activations.file(wd.activations(kind, index));
        return replacing instanceof Activations.Memory m ? m.overwrite() : Activations.memory();
    }

    /** Block 0's inputs for both chains: the samples' embeddings, in memory or streamed one sample at a time to files. */
    private static Activations[] embed(WorkDir wd, LlamaWeights fp, CalibrationData calibration) {
        LlamaModel model = new LlamaModel(fp);
        if (wd == null) {
            List<Tensor> emb = Capture.embed(model, calibration);
            return new Activations[]{Activations.Memory.of(emb), Activations.Memory.of(emb)};
        }
        Activations.Writer f = Activations.file(wd.activations("fp", 0)), q = Activations.file(wd.activations("quant", 0));
        try (var off = Grad.off()) {
            for (int i = 0; i < calibration.size(); i++) {
                Tensor e = model.embed(calibration.ids(i)).value();
                f.put(e);
                q.put(e);
            }
        }
        return new Activations[]{f.finish(), q.finish()};
    }

    private static void discard(WorkDir wd, Activations a) {
        if (a == null) return;
        a.close();
        if (a instanceof Activations.OnDisk d) wd.delete(d.file());
    }

    // ------------------------------------------------------------ helpers

    /** {@code w} with its blocks replaced by {@code layers} (norms included, which WeightsBuilder keeps). */
    static LlamaWeights withLayers(LlamaWeights w, List<LlamaWeights.Layer> layers) {
        return new LlamaWeights(w.config(), w.embedding(), layers, w.finalNorm(), w.config().tiedEmbeddings() ? null : w.output(), List.of());
    }

    private Map<String, Object> describe(Settings s) {
        Map<String, Object> m = Steps.section();
        m.put("epochs", s.epochs());
        m.put("lwc", s.lwc());
        m.put("let", s.let());
        m.put("lwc_lr", options.lwcLr());
        m.put("let_lr", options.letLr());
        m.put("alpha", options.alpha());
        m.put("aug_loss", s.augLoss());
        m.put("quantize_query", s.quantizeQuery());
        m.put("let_shift", false);
        m.put("lwc_init", "gamma = beta = " + Lwc.INIT + " (sigmoid " + Steps.round(1 / (1 + Math.exp(-Lwc.INIT))) + ")");
        m.put("let_init", "SmoothQuant max|X|^alpha / max|W|^(1-alpha) for attn/mlp/out, 1 for qk");
        m.put("optimizer", "AdamW betas (0.9, 0.999), eps 1e-8, weight decay 0, constant learning rates, batch size 1");
        return m;
    }

    /** What the result depends on: model (config and a checksum of its small tensors and first rows), data, config, options. */
    private String fingerprint(LlamaWeights fp, CalibrationData calibration, QuantConfig config, Settings s) {
        CRC32 tokens = new CRC32(), weights = new CRC32();
        for (int[] sample : calibration.samples()) for (int t : sample) tokens.update(new byte[]{(byte) t, (byte) (t >> 8), (byte) (t >> 16), (byte) (t >> 24)});
        for (int l = 0; l < fp.config().layers(); l++) {
            LlamaWeights.Layer w = fp.layer(l);
            for (Tensor t : List.of(w.attnNorm(), w.ffnNorm(), w.wq().narrow(0, 0, 1), w.wDown().narrow(0, 0, 1))) checksum(weights, t);
        }
        checksum(weights, fp.finalNorm());
        return String.format(Locale.ROOT, "omniquant-1 %s | %s | %s lwc_lr=%s let_lr=%s alpha=%s | calibration %s seed %d n=%d T=%d crc %08x | model %s crc %08x",
                name, config, s, options.lwcLr(), options.letLr(), options.alpha(), calibration.source(), calibration.seed(), calibration.size(),
                calibration.seqLen(), tokens.getValue(), fp.config(), weights.getValue());
    }

    private static void checksum(CRC32 crc, Tensor t) {
        for (float v : t.toFloatArray()) {
            int b = Float.floatToRawIntBits(v);
            crc.update(new byte[]{(byte) b, (byte) (b >> 8), (byte) (b >> 16), (byte) (b >> 24)});
        }
    }

    @Override public String toString() { return name + options; }
}
