package dev.stiefel.quant.method;

import dev.stiefel.quant.pipeline.WeightStage;
import dev.stiefel.quant.pipeline.Steps;
import dev.stiefel.quant.pipeline.GgmlSteps;
import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Losses;
import dev.stiefel.autograd.LrSchedule;
import dev.stiefel.autograd.Optimizer;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.Progress;
import dev.stiefel.llama.train.TrainingLoop;
import dev.stiefel.quant.pipeline.Method;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.pipeline.Report;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.transform.OnlineRotation;
import dev.stiefel.quant.transform.Rotation;
import dev.stiefel.quant.transform.Transforms;
import dev.stiefel.riemann.CayleySgd;
import dev.stiefel.riemann.OptimizerGroup;
import dev.stiefel.riemann.RiemannianAdam;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * OSTQuant (Hu et al., ICLR 2025) and SpinQuant (Liu et al., ICLR 2025) as one recipe over {@link OstQuantView}:
 * <ol>
 *   <li>initialise R and R_h (WOMI, or QuaRot's random Hadamard) and the scalings at 1;</li>
 *   <li>learn them end to end on the calibration windows: the view with the config's activation and KV fake
 *       quantization (and weights too for weight-only configs, or when asked), the loss between its logits and the
 *       full-precision model's (KL-Top by default, §3.4), rotations by Riemannian Adam (OSTQuant) or Cayley SGD
 *       (SpinQuant) and log-scales by AdamW, all under one cosine schedule;</li>
 *   <li>fuse the learned transforms into the weights in f64 ({@link OstQuantView#fuse}) and check the fused model
 *       against the original;</li>
 *   <li>quantize the fused weights by RTN or GPTQ with the online Hadamards in place.</li>
 * </ol>
 * On llama.cpp's grids ({@code --config Q4_0}, ...) every transform must fold into the weights, since llama.cpp runs
 * none online: the view has no Hadamard at down_proj's input (learned and fused without it; the report names it under
 * {@code online_left_out}), and a quantized K cache, which would need the online Q/K Hadamard, is refused.
 */
public record OstQuant(String name, Options options, Gptq.Options gptq) implements Method {

    /** With GPTQ at its reference defaults (when {@code options} quantize weights by GPTQ). */
    public OstQuant(String name, Options options) { this(name, options, Gptq.Options.defaults()); }

    public enum Loss { KL_TOP, KL, CE, MSE }

    public enum RotationOptimizer { RIEMANNIAN_ADAM, CAYLEY_SGD }

    /** Where the rotations start: WOMI (OSTQuant), QuaRot's random Hadamard (SpinQuant), or the identity (ablations). */
    public enum Init { WOMI, HADAMARD, IDENTITY }

    /**
     * @param scalings         learn the diagonal scalings (off: SpinQuant)
     * @param init             where R and R_h start
     * @param loss             the learning objective
     * @param topK             KL-Top's k (capped at the vocabulary)
     * @param topKVariant      KL-Top: softmax over the whole vocabulary then the top-k terms (the official run script's
     *                         {@code --post_attn=True}), or softmax over the k gathered logits only
     * @param rotationOptimizer Riemannian Adam or Cayley SGD
     * @param epochs           passes over the calibration windows (when {@code steps} is 0)
     * @param steps            the step budget; 0: epochs × ⌈n / batch⌉. The windows are reshuffled every ⌈n / batch⌉ steps
     * @param batch            windows per step
     * @param rotationLr       the rotations' initial learning rate (cosine to 0)
     * @param scaleLr          the log-scales' initial learning rate (cosine to 0)
     * @param weightRotationLr the rotations' rate instead when weights are fake-quantized while learning (weight-only
     *                         configs): near WOMI the straight-through gradient of rounded weights needs smaller steps
     * @param weightScaleLr    the log-scales' rate in that case
     * @param weightsDuringLearning fake-quantize weights while learning: null = only for weight-only configs
     *                         (OSTQuant learns weight-activation settings with weights in full precision)
     * @param useGptq          weights by GPTQ after fusion (else RTN)
     * @param seed             the random Hadamard signs and batch order
     * @param workDir          where the learning state is checkpointed (a run there resumes); null: nothing is written
     * @param checkpointEvery  steps between checkpoints (with a work directory; the last step is always saved)
     * @param stopAfter        learn at most this many steps in this run, then checkpoint and stop with
     *                         {@link LearningPaused} (0: no limit); running again with the same work directory resumes
     */
    public record Options(boolean scalings, Init init, Loss loss, int topK, Losses.TopKVariant topKVariant, RotationOptimizer rotationOptimizer,
                          int epochs, int steps, int batch, double rotationLr, double scaleLr, double weightRotationLr, double weightScaleLr,
                          Boolean weightsDuringLearning, boolean useGptq,
                          long seed, Path workDir, int checkpointEvery, int stopAfter) {
        public Options {
            if (epochs < 0 || steps < 0 || batch < 1)
                throw new IllegalArgumentException("OSTQuant: epochs and steps must be >= 0 and batch >= 1, got " + epochs + ", " + steps + ", " + batch);
            if (topK < 1) throw new IllegalArgumentException("OSTQuant: KL-Top's k must be >= 1, got " + topK);
            if (!(rotationLr >= 0) || !(scaleLr >= 0) || !(weightRotationLr >= 0) || !(weightScaleLr >= 0))
                throw new IllegalArgumentException("OSTQuant: learning rates must be >= 0, got " + rotationLr + ", " + scaleLr + ", " + weightRotationLr + ", " + weightScaleLr);
            if (checkpointEvery < 1) throw new IllegalArgumentException("OSTQuant: checkpointEvery must be >= 1, got " + checkpointEvery);
            if (stopAfter < 0) throw new IllegalArgumentException("OSTQuant: stopAfter must be >= 0, got " + stopAfter);
            if (stopAfter > 0 && workDir == null) throw new IllegalArgumentException("OSTQuant: stopping after " + stopAfter + " steps needs a work directory to resume from");
        }

        /** The presets' values (the command line's flags name them from here). */
        public static final int DEFAULT_EPOCHS = 8, DEFAULT_BATCH = 4, DEFAULT_CHECKPOINT_EVERY = 10;
        public static final double OSTQUANT_ROTATION_LR = 5e-2, OSTQUANT_SCALE_LR = 1e-2, OSTQUANT_WEIGHT_LR = 2e-3, SPINQUANT_ROTATION_LR = 1.5;

        /**
         * OSTQuant: scalings, WOMI, KL-Top (k = 1000), Riemannian Adam at 5e-2 for the rotations and AdamW at 1e-2 for
         * the log-scales (2e-3 for both when weights are fake-quantized while learning), GPTQ. The rates are
         * stories260K choices (docs/RESULTS.md); the official defaults are 0.0169 (geoopt's Cayley step, about 0.034
         * here) and 0.00179.
         */
        public static Options ostquant() {
            return new Options(true, Init.WOMI, Loss.KL_TOP, Losses.DEFAULT_TOP_K, Losses.TopKVariant.FULL_SOFTMAX_THEN_GATHER,
                    RotationOptimizer.RIEMANNIAN_ADAM, DEFAULT_EPOCHS, 0, DEFAULT_BATCH, OSTQUANT_ROTATION_LR, OSTQUANT_SCALE_LR, OSTQUANT_WEIGHT_LR,
                    OSTQUANT_WEIGHT_LR, null, true, 0, null, DEFAULT_CHECKPOINT_EVERY, 0);
        }

        /** SpinQuant: rotations only, random Hadamard start, cross-entropy, Cayley SGD at SpinQuant's 1.5. */
        public static Options spinquant() {
            return new Options(false, Init.HADAMARD, Loss.CE, Losses.DEFAULT_TOP_K, Losses.TopKVariant.FULL_SOFTMAX_THEN_GATHER,
                    RotationOptimizer.CAYLEY_SGD, DEFAULT_EPOCHS, 0, DEFAULT_BATCH, SPINQUANT_ROTATION_LR, 0, SPINQUANT_ROTATION_LR, 0, null, true, 0, null,
                    DEFAULT_CHECKPOINT_EVERY, 0);
        }

        private Builder b() { return new Builder(this); }

        public Options withEpochs(int e) { return b().epochs(e).build(); }

        public Options withSteps(int s) { return b().steps(s).build(); }

        public Options withLoss(Loss l) { return b().loss(l).build(); }

        public Options withTopK(int k) { return b().topK(k).build(); }

        public Options withTopKVariant(Losses.TopKVariant v) { return b().topKVariant(v).build(); }

        public Options withGptq(boolean g) { return b().useGptq(g).build(); }

        public Options withInit(Init w) { return b().init(w).build(); }


        public Options withSeed(long s) { return b().seed(s).build(); }

        public Options withBatch(int n) { return b().batch(n).build(); }


        /** The rotations' rate for every config (with or without weights quantized while learning). */
        public Options withRotationLr(double lr) { return b().rotationLr(lr).weightRotationLr(lr).build(); }

        /** The log-scales' rate for every config. */
        public Options withScaleLr(double lr) { return b().scaleLr(lr).weightScaleLr(lr).build(); }


        /** The rates used when weights are fake-quantized while learning only. */
        public Options withWeightLearningRates(double rotation, double scale) { return b().weightRotationLr(rotation).weightScaleLr(scale).build(); }

        /** The rotations' and log-scales' initial rates for learning under {@code config}. */
        public double[] learningRates(QuantConfig config) {
            return quantizeWeightsWhileLearning(config, this) ? new double[]{weightRotationLr, weightScaleLr} : new double[]{rotationLr, scaleLr};
        }

        public Options withWeightsDuringLearning(Boolean w) { return b().weightsDuringLearning(w).build(); }

        public Options withWorkDir(Path dir) { return b().workDir(dir).build(); }

        public Options withCheckpointEvery(int n) { return b().checkpointEvery(n).build(); }

        public Options withStopAfter(int n) { return b().stopAfter(n).build(); }

        /** The steps learning takes on {@code windows} calibration windows. */
        public int totalSteps(int windows) { return steps > 0 ? steps : epochs * stepsPerEpoch(windows); }

        /** Steps per pass over {@code windows} windows (the last batch may be short). */
        public int stepsPerEpoch(int windows) { return (windows + batch - 1) / batch; }

        /** Everything the learned transforms depend on (not where or how often they are saved). */
        String learningFingerprint() {
            return String.format(Locale.ROOT, "scalings=%s init=%s loss=%s k=%d %s rot=%s epochs=%d steps=%d batch=%d rot_lr=%s scale_lr=%s w_rot_lr=%s w_scale_lr=%s w=%s seed=%d",
                    scalings, init, loss, topK, topKVariant, rotationOptimizer, epochs, steps, batch, rotationLr, scaleLr, weightRotationLr, weightScaleLr,
                    weightsDuringLearning, seed);
        }
    }

    /** Mutable copy of {@link Options} for the with-methods (records have no copy-with). */
    private static final class Builder {
        boolean scalings, useGptq; Init init; Loss loss; int topK, epochs, steps, batch, checkpointEvery, stopAfter; Losses.TopKVariant topKVariant;
        RotationOptimizer rotationOptimizer; double rotationLr, scaleLr, weightRotationLr, weightScaleLr; Boolean weightsDuringLearning; long seed; Path workDir;

        Builder(Options o) {
            scalings = o.scalings(); init = o.init(); loss = o.loss(); topK = o.topK(); topKVariant = o.topKVariant(); rotationOptimizer = o.rotationOptimizer();
            epochs = o.epochs(); steps = o.steps(); batch = o.batch(); rotationLr = o.rotationLr(); scaleLr = o.scaleLr();
            weightRotationLr = o.weightRotationLr(); weightScaleLr = o.weightScaleLr();
            weightsDuringLearning = o.weightsDuringLearning(); useGptq = o.useGptq(); seed = o.seed(); workDir = o.workDir();
            checkpointEvery = o.checkpointEvery(); stopAfter = o.stopAfter();
        }

        Builder scalings(boolean v) { scalings = v; return this; }
        Builder init(Init v) { init = v; return this; }
        Builder loss(Loss v) { loss = v; return this; }
        Builder topK(int v) { topK = v; return this; }
        Builder topKVariant(Losses.TopKVariant v) { topKVariant = v; return this; }
        Builder rotationOptimizer(RotationOptimizer v) { rotationOptimizer = v; return this; }
        Builder epochs(int v) { epochs = v; return this; }
        Builder steps(int v) { steps = v; return this; }
        Builder batch(int v) { batch = v; return this; }
        Builder rotationLr(double v) { rotationLr = v; return this; }
        Builder scaleLr(double v) { scaleLr = v; return this; }
        Builder weightRotationLr(double v) { weightRotationLr = v; return this; }
        Builder weightScaleLr(double v) { weightScaleLr = v; return this; }
        Builder weightsDuringLearning(Boolean v) { weightsDuringLearning = v; return this; }
        Builder useGptq(boolean v) { useGptq = v; return this; }
        Builder seed(long v) { seed = v; return this; }
        Builder workDir(Path v) { workDir = v; return this; }
        Builder checkpointEvery(int v) { checkpointEvery = v; return this; }
        Builder stopAfter(int v) { stopAfter = v; return this; }

        Options build() {
            return new Options(scalings, init, loss, topK, topKVariant, rotationOptimizer, epochs, steps, batch, rotationLr, scaleLr,
                    weightRotationLr, weightScaleLr, weightsDuringLearning, useGptq, seed, workDir, checkpointEvery, stopAfter);
        }
    }

    /**
     * Command-line overrides of a preset ({@link Options#ostquant()} or {@link Options#spinquant()}): each non-null field
     * replaces the preset's value, so one set of flags serves both methods with their own defaults.
     */
    public record Overrides(Integer epochs, Integer steps, Integer batch, Double rotationLr, Double scaleLr, Loss loss, Integer topK,
                            Losses.TopKVariant topKVariant, Init init, RotationOptimizer rotationOptimizer, Boolean scalings,
                            Boolean weightsDuringLearning, Path workDir, Integer checkpointEvery, Integer stopAfter) {
        public static Overrides none() {
            return new Overrides(null, null, null, null, null, null, null, null, null, null, null, null, null, null, null);
        }

        /** These overrides, checkpointing the learning in {@code dir} (quantize's --work-dir). */
        public Overrides withWorkDir(Path dir) {
            return new Overrides(epochs, steps, batch, rotationLr, scaleLr, loss, topK, topKVariant, init, rotationOptimizer, scalings,
                    weightsDuringLearning, dir, checkpointEvery, stopAfter);
        }

        public Options applyTo(Options preset) {
            Builder b = new Builder(preset);
            if (epochs != null) b.epochs(epochs);
            if (steps != null) b.steps(steps);
            if (batch != null) b.batch(batch);
            // an explicit rate applies whether or not weights are quantized while learning
            if (rotationLr != null) b.rotationLr(rotationLr).weightRotationLr(rotationLr);
            if (scaleLr != null) b.scaleLr(scaleLr).weightScaleLr(scaleLr);
            if (loss != null) b.loss(loss);
            if (topK != null) b.topK(topK);
            if (topKVariant != null) b.topKVariant(topKVariant);
            if (init != null) b.init(init);
            if (rotationOptimizer != null) b.rotationOptimizer(rotationOptimizer);
            if (scalings != null) b.scalings(scalings);
            if (weightsDuringLearning != null) b.weightsDuringLearning(weightsDuringLearning);
            if (workDir != null) b.workDir(workDir);
            if (checkpointEvery != null) b.checkpointEvery(checkpointEvery);
            if (stopAfter != null) b.stopAfter(stopAfter);
            return b.build();
        }
    }

    /** Learning stopped on purpose ({@link Options#stopAfter}) with its state saved; running again resumes. */
    public static final class LearningPaused extends IllegalStateException {
        private final int step;

        LearningPaused(int step, int total, Path file) {
            super("OSTQuant: learning paused after step " + step + " of " + total + " (--ost-stop-after); the state is in " + file
                    + ", run the same command again to resume");
            this.step = step;
        }

        public int step() { return step; }
    }

    public static OstQuant ostquant() { return new OstQuant("ostquant", Options.ostquant()); }

    public static OstQuant spinquant() { return new OstQuant("spinquant", Options.spinquant()); }

    /** The view with its initial transforms. */
    public static OstQuantView initialView(LlamaWeights fp, QuantConfig config, Options o) {
        LlamaConfig c = fp.config();
        // on llama.cpp's grids every transform must fold into the weights: no online Hadamard before down_proj
        OstQuantView.Options vo = new OstQuantView.Options(o.scalings(), true, config.key() != null, true, config.ggml() == null);
        if (o.init() == Init.WOMI) return Womi.view(fp, vo, o.seed());
        boolean id = o.init() == Init.IDENTITY;
        DMatrix[] heads = new DMatrix[c.layers()];
        for (int l = 0; l < heads.length; l++) heads[l] = id ? DMatrix.identity(c.headDim()) : Rotation.hadamard(c.headDim()).matrix();
        return new OstQuantView(fp, vo, id ? DMatrix.identity(c.dim()) : Rotation.randomHadamard(c.dim(), o.seed()).matrix(), heads);
    }

    /**
     * What learning did: the loss over all calibration windows before and after (no gradient, the same windows), and the
     * mean training loss of the first and the last epoch.
     */
    public record Learning(double lossBefore, double lossAfter, double firstEpochLoss, double lastEpochLoss, int steps) {}

    /** The mean loss over every calibration window, one at a time, without a tape. */
    public static double evaluate(LlamaWeights fp, OstQuantView view, CalibrationData calibration, QuantConfig config, Options o) {
        LlamaModel student = view.learningModel(config, quantizeWeightsWhileLearning(config, o)), teacher = new LlamaModel(fp);
        double sum = 0;
        try (var _ = Grad.off()) {
            for (int i = 0; i < calibration.size(); i++) sum += loss(o, teacher, student, calibration.ids(i), calibration.samples().get(i)).value().toFloatArray()[0];
        }
        return sum / calibration.size();
    }

    private static boolean quantizeWeightsWhileLearning(QuantConfig config, Options o) {
        boolean weightOnly = config.activation() == null && config.key() == null && config.value() == null;
        return o.weightsDuringLearning() != null ? o.weightsDuringLearning() : weightOnly;
    }

    /** Learns the view's transforms on the calibration windows (in place); returns the loss at the start and the end. */
    public static Learning learn(LlamaWeights fp, OstQuantView view, CalibrationData calibration, QuantConfig config, Options o, ProgressFactory progress) {
        return learn("ostquant", fp, view, calibration, config, o, progress);
    }

    /**
     * The same, with {@code label} naming the run's directory under the options' work directory: with one, the state is
     * checkpointed every {@link Options#checkpointEvery} steps and after the last, and a run whose checkpoint exists
     * (same model, windows, config, options and start) continues from it, ending with the same bits as an uninterrupted
     * run. A finished checkpoint skips learning altogether.
     */
    public static Learning learn(String label, LlamaWeights fp, OstQuantView view, CalibrationData calibration, QuantConfig config, Options o,
                                 ProgressFactory progress) {
        int n = calibration.size(), perEpoch = o.stepsPerEpoch(n), total = o.totalSteps(n);
        List<Var> params = new ArrayList<>(view.rotations());
        params.addAll(view.scales());
        LearningState state = o.workDir() == null ? null
                : LearningState.open(o.workDir(), label + "-" + config.shorthand().replace(" ", ""), LearningState.fingerprint(label, fp, calibration, config, o, params));
        LlamaModel plain = view.learningModel(config, quantizeWeightsWhileLearning(config, o)), teacher = new LlamaModel(fp);
        LlamaModel student = checkpointBlocks(fp.config(), o.batch(), calibration.seqLen()) ? plain.checkpointed(params) : plain;
        OptimizerGroup.Builder b = OptimizerGroup.builder();
        double[] rates = o.learningRates(config);
        LrSchedule rotLr = LrSchedule.cosine(rates[0], Math.max(total, 1), 0);
        b.add(view.rotations(), ps -> o.rotationOptimizer() == RotationOptimizer.CAYLEY_SGD ? new CayleySgd(ps, rotLr, 0) : new RiemannianAdam(ps, rotLr));
        if (!view.scales().isEmpty()) b.add(view.scales(), ps -> Optimizer.adamW(ps, LrSchedule.cosine(rates[1], Math.max(total, 1), 0), 0));
        OptimizerGroup group = b.build();

        int start = 0;
        double before, epochSum = 0, first = Double.NaN, last = Double.NaN;
        if (state != null && state.exists()) {
            LearningState.Saved saved = state.restore(params, group);
            start = saved.step();
            before = saved.lossBefore();
            epochSum = saved.epochSum();
            first = saved.firstEpoch();
            last = saved.lastEpoch();
            System.err.printf(Locale.ROOT, "%s: resuming from step %d of %d (%s)%n", label, start, total, state.file());
        } else {
            before = evaluate(fp, view, calibration, config, o);
        }
        if (total == 0) return new Learning(before, before, Double.NaN, Double.NaN, 0);

        // the batch order: the windows reshuffled at the start of every epoch, from one seeded generator (a resumed run
        // replays the shuffles of the epochs before its step, so it sees the same batches)
        Random rnd = new Random(o.seed());
        int startStep = start;
        double lossBefore = before;
        double[] tally = {epochSum, first, last}; // this epoch's loss sum, the first and the last epoch's mean
        try (Progress bar = progress.open(label, total, "steps")) {
            bar.resumedAt(start);
            TrainingLoop.run(label, start, total, perEpoch, new TrainingLoop.Optimizers() {
                @Override public void zeroGrad() { group.zeroGrad(); }

                @Override public void step() { group.step(); }
            }, new TrainingLoop.Steps() {
                List<Integer> order = new ArrayList<>();
                int shuffled = -1;

                @Override public void epochStart(int epoch) {
                    while (shuffled < epoch) {
                        order = new ArrayList<>();
                        for (int i = 0; i < n; i++) order.add(i);
                        java.util.Collections.shuffle(order, rnd);
                        shuffled++;
                    }
                }

                @Override public Var loss(int epoch, int s) {
                    List<Integer> pick = order.subList(s * o.batch(), Math.min(n, (s + 1) * o.batch()));
                    int t = calibration.seqLen();
                    int[] ids = new int[pick.size() * t];
                    for (int i = 0; i < pick.size(); i++) System.arraycopy(calibration.samples().get(pick.get(i)), 0, ids, i * t, t);
                    return OstQuant.loss(o, teacher, student, Tensor.ofInts(ids, pick.size(), t), ids);
                }

                @Override public void after(int epoch, int s, double v) {
                    int step = epoch * perEpoch + s, done = step + 1;
                    tally[0] += v;
                    if (s == perEpoch - 1 || step == total - 1) {
                        tally[2] = tally[0] / (s + 1);
                        if (epoch == 0) tally[1] = tally[2];
                        tally[0] = 0;
                    }
                    boolean pause = o.stopAfter() > 0 && done - startStep >= o.stopAfter() && done < total;
                    if (state != null && (done % o.checkpointEvery() == 0 || done == total || pause))
                        state.save(params, group, new LearningState.Saved(done, lossBefore, tally[0], tally[1], tally[2]));
                    if (pause) throw new LearningPaused(done, total, state.file());
                }
            }, bar, "lower the learning rates");
        }
        first = tally[1];
        last = tally[2];
        return new Learning(before, evaluate(fp, view, calibration, config, o), first, last, total);
    }

    /** The learning objective of one batch (ids [B, T]; {@code ids} the same tokens flat, for cross-entropy's targets). */
    static Var loss(Options o, LlamaModel teacher, LlamaModel student, Tensor batch, int[] ids) {
        if (o.loss() == Loss.MSE) {
            Tensor target;
            try (var _ = Grad.off()) { target = hidden(teacher, batch).value(); }
            return Losses.mse(hidden(student, batch), target);
        }
        Var logits = student.forward(batch, null);
        if (o.loss() == Loss.CE) {
            // next-token cross-entropy on the calibration text (SpinQuant's objective)
            int b = batch.size(0), t = batch.size(1), v = logits.shape()[2];
            int[] targets = new int[b * (t - 1)];
            for (int i = 0; i < b; i++) System.arraycopy(ids, i * t + 1, targets, i * (t - 1), t - 1);
            return Losses.crossEntropy(logits.narrow(1, 0, t - 1).reshape(b * (t - 1), v), targets);
        }
        Tensor target;
        try (var _ = Grad.off()) { target = teacher.forward(batch, null).value(); }
        return o.loss() == Loss.KL ? Losses.kl(logits, target) : Losses.klTop(logits, target, o.topK(), o.topKVariant());
    }

    /** The residual stream after the last block (before the final norm). */
    private static Var hidden(LlamaModel m, Tensor ids) {
        Var x = m.embed(ids);
        return m.blocks(x, 0, null);
    }

    /**
     * Whether the learning forward recomputes each block in backward ({@link LlamaModel#checkpointed}): when the tape of
     * every block would take over a quarter of the heap, estimated as 16 residual-width and 4 MLP-width activations per
     * token and the attention weights, unless the {@link dev.stiefel.quant.MemoryPolicy} in force decides. The learned
     * transforms are the same up to the order gradient terms are summed in.
     */
    static boolean checkpointBlocks(LlamaConfig c, int batch, int seqLen) {
        long tokens = (long) batch * seqLen;
        long perBlock = tokens * (16L * c.dim() + 4L * c.hiddenDim()) * Float.BYTES + (long) batch * c.heads() * seqLen * seqLen * Float.BYTES;
        return dev.stiefel.quant.MemoryPolicy.current().checkpointBlocksOr(perBlock * c.layers() > Runtime.getRuntime().maxMemory() / 4);
    }

    /**
     * What the report shows of the learning: the options, the learning rates used (rotations, scales), the steps taken,
     * the calibration loss before and after, and the first and last epoch's mean loss.
     */
    public record Learned(Options options, double[] learningRates, int steps, double calibrationLossBefore, double calibrationLossAfter,
                          double lossFirstEpoch, double lossLastEpoch) implements Report.Section {
        @Override public String key() { return "learning"; }
    }

    @Override public QuantizedModel apply(LlamaWeights fp, CalibrationData calibration, QuantConfig config, ProgressFactory progress) {
        if (calibration == null) throw new IllegalArgumentException(name + ": learning the transforms needs calibration data (--calib)");
        GgmlSteps.refuseOnlineQk(name, config);
        OstQuantView view = initialView(fp, config, options);
        Learning learning = learn(name, fp, view, calibration, config, options, progress);
        Transforms.Fused fused = view.fuse();
        Report.Equivalence equivalence = Steps.equivalence(fp, fused, calibration);
        WeightStage weights = options.useGptq() ? new Gptq(gptq) : new Rtn();
        QuantizedModel q = weights.apply(fused.weights(), fused.hooks(), calibration, config, progress);
        Learned learned = new Learned(options, options.learningRates(config), learning.steps(),
                Steps.round(learning.lossBefore()), Steps.round(learning.lossAfter()), Steps.round(learning.firstEpochLoss()), Steps.round(learning.lastEpochLoss()));
        // view.skipped(): transforms this architecture has no exact form for; llama.cpp runs no online transform
        Report report = q.report().withMethod(name).with(learned).with(new Report.Transformed(fused.steps(),
                config.ggml() != null ? List.of(OnlineRotation.downProj(fp.config()).describe()) : List.of(), equivalence)).withSkipped(view.skipped());
        return q.withOnline(fused.online(), report);
    }
}
