package dev.stiefel.quant.method;

import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Losses;
import dev.stiefel.autograd.LrSchedule;
import dev.stiefel.autograd.Optimizer;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.Progress;
import dev.stiefel.quant.Method;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.QuantizedModel;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.transform.Rotation;
import dev.stiefel.quant.transform.Transforms;
import dev.stiefel.riemann.CayleySgd;
import dev.stiefel.riemann.OptimizerGroup;
import dev.stiefel.riemann.RiemannianAdam;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
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
 */
public record OstQuant(String name, Options options) implements Method {

    public enum Loss { KL_TOP, KL, CE, MSE }

    public enum RotationOptimizer { RIEMANNIAN_ADAM, CAYLEY_SGD }

    /** Where the rotations start: WOMI (OSTQuant), QuaRot's random Hadamard (SpinQuant), or the identity (ablations). */
    public enum Init { WOMI, HADAMARD, IDENTITY }

    /**
     * @param scalings         learn the diagonal scalings (off: SpinQuant)
     * @param init             where R and R_h start
     * @param loss             the learning objective
     * @param topK             KL-Top's k (capped at the vocabulary)
     * @param rotationOptimizer Riemannian Adam or Cayley SGD
     * @param epochs           passes over the calibration windows
     * @param batch            windows per step
     * @param rotationLr       the rotations' initial learning rate (cosine to 0)
     * @param scaleLr          the log-scales' initial learning rate (cosine to 0)
     * @param weightsDuringLearning fake-quantize weights while learning: null = only for weight-only configs
     *                         (OSTQuant learns weight-activation settings with weights in full precision)
     * @param useGptq          weights by GPTQ after fusion (else RTN)
     * @param seed             the random Hadamard signs and batch order
     */
    public record Options(boolean scalings, Init init, Loss loss, int topK, RotationOptimizer rotationOptimizer, int epochs, int batch,
                          double rotationLr, double scaleLr, Boolean weightsDuringLearning, boolean useGptq, long seed) {
        public Options {
            if (epochs < 0 || batch < 1) throw new IllegalArgumentException("OSTQuant: epochs must be >= 0 and batch >= 1, got " + epochs + ", " + batch);
        }

        /** OSTQuant: scalings, WOMI, KL-Top (k = 1000), Riemannian Adam, GPTQ. */
        public static Options ostquant() {
            return new Options(true, Init.WOMI, Loss.KL_TOP, Losses.DEFAULT_TOP_K, RotationOptimizer.RIEMANNIAN_ADAM, 8, 4, 5e-2, 5e-2, null, true, 0);
        }

        /** SpinQuant: rotations only, random Hadamard start, cross-entropy, Cayley SGD at SpinQuant's 1.5. */
        public static Options spinquant() {
            return new Options(false, Init.HADAMARD, Loss.CE, Losses.DEFAULT_TOP_K, RotationOptimizer.CAYLEY_SGD, 8, 4, 1.5, 0, null, true, 0);
        }

        public Options withEpochs(int e) { return new Options(scalings, init, loss, topK, rotationOptimizer, e, batch, rotationLr, scaleLr, weightsDuringLearning, useGptq, seed); }

        public Options withLoss(Loss l) { return new Options(scalings, init, l, topK, rotationOptimizer, epochs, batch, rotationLr, scaleLr, weightsDuringLearning, useGptq, seed); }

        public Options withGptq(boolean g) { return new Options(scalings, init, loss, topK, rotationOptimizer, epochs, batch, rotationLr, scaleLr, weightsDuringLearning, g, seed); }

        public Options withInit(Init w) { return new Options(scalings, w, loss, topK, rotationOptimizer, epochs, batch, rotationLr, scaleLr, weightsDuringLearning, useGptq, seed); }

        public Options withScalings(boolean s) { return new Options(s, init, loss, topK, rotationOptimizer, epochs, batch, rotationLr, scaleLr, weightsDuringLearning, useGptq, seed); }

        public Options withSeed(long s) { return new Options(scalings, init, loss, topK, rotationOptimizer, epochs, batch, rotationLr, scaleLr, weightsDuringLearning, useGptq, s); }

        public Options withBatch(int b) { return new Options(scalings, init, loss, topK, rotationOptimizer, epochs, b, rotationLr, scaleLr, weightsDuringLearning, useGptq, seed); }
    }

    public static OstQuant ostquant() { return new OstQuant("ostquant", Options.ostquant()); }

    public static OstQuant spinquant() { return new OstQuant("spinquant", Options.spinquant()); }

    /** The view with its initial transforms. */
    public static OstQuantView initialView(LlamaWeights fp, QuantConfig config, Options o) {
        LlamaConfig c = fp.config();
        OstQuantView.Options vo = new OstQuantView.Options(o.scalings(), true, config.key() != null, true);
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
        int n = calibration.size(), stepsPerEpoch = (n + o.batch() - 1) / o.batch(), total = o.epochs() * stepsPerEpoch;
        double before = evaluate(fp, view, calibration, config, o);
        if (total == 0) return new Learning(before, before, Double.NaN, Double.NaN, 0);
        LlamaModel student = view.learningModel(config, quantizeWeightsWhileLearning(config, o)), teacher = new LlamaModel(fp);
        OptimizerGroup.Builder b = OptimizerGroup.builder();
        LrSchedule rotLr = LrSchedule.cosine(o.rotationLr(), total, 0);
        b.add(view.rotations(), ps -> o.rotationOptimizer() == RotationOptimizer.CAYLEY_SGD ? new CayleySgd(ps, rotLr, 0) : new RiemannianAdam(ps, rotLr));
        if (!view.scales().isEmpty()) b.add(view.scales(), ps -> Optimizer.adamW(ps, LrSchedule.cosine(o.scaleLr(), total, 0), 0));
        OptimizerGroup group = b.build();
        Random rnd = new Random(o.seed());
        double first = 0, last = 0;
        try (Progress bar = progress.open(o.rotationOptimizer() == RotationOptimizer.CAYLEY_SGD && !o.scalings() ? "spinquant" : "ostquant", total, "steps")) {
            for (int epoch = 0; epoch < o.epochs(); epoch++) {
                List<Integer> order = new ArrayList<>();
                for (int i = 0; i < n; i++) order.add(i);
                java.util.Collections.shuffle(order, rnd);
                double sum = 0;
                for (int s = 0; s < stepsPerEpoch; s++) {
                    List<Integer> pick = order.subList(s * o.batch(), Math.min(n, (s + 1) * o.batch()));
                    int t = calibration.seqLen();
                    int[] ids = new int[pick.size() * t];
                    for (int i = 0; i < pick.size(); i++) System.arraycopy(calibration.samples().get(pick.get(i)), 0, ids, i * t, t);
                    Tensor batch = Tensor.ofInts(ids, pick.size(), t);
                    Var loss = loss(o, teacher, student, batch, ids);
                    loss.backward();
                    group.step();
                    group.zeroGrad();
                    double v = loss.value().toFloatArray()[0];
                    if (!Double.isFinite(v)) throw new IllegalStateException(o + ": the loss is " + v + " at epoch " + epoch + " step " + s + "; lower the learning rates");
                    sum += v;
                    bar.status(String.format(Locale.ROOT, "epoch %d loss %.4g", epoch + 1, v));
                    bar.step(1);
                }
                if (epoch == 0) first = sum / stepsPerEpoch;
                last = sum / stepsPerEpoch;
            }
        }
        return new Learning(before, evaluate(fp, view, calibration, config, o), first, last, total);
    }

    private static Var loss(Options o, LlamaModel teacher, LlamaModel student, Tensor batch, int[] ids) {
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
        return o.loss() == Loss.KL ? Losses.kl(logits, target) : Losses.klTop(logits, target, o.topK(), Losses.TopKVariant.FULL_SOFTMAX_THEN_GATHER);
    }

    /** The residual stream after the last block (before the final norm). */
    private static Var hidden(LlamaModel m, Tensor ids) {
        Var x = m.embed(ids);
        for (int l = 0; l < m.config().layers(); l++) x = m.block(l, x, 0, null);
        return x;
    }

    @Override public QuantizedModel apply(LlamaWeights fp, CalibrationData calibration, QuantConfig config, ProgressFactory progress) {
        if (calibration == null) throw new IllegalArgumentException(name + ": learning the transforms needs calibration data (--calib)");
        OstQuantView view = initialView(fp, config, options);
        Learning learning = learn(fp, view, calibration, config, options, progress);
        Transforms.Fused fused = view.fuse();
        Map<String, Object> equivalence = Steps.equivalence(fp, fused, calibration);
        QuantizedModel q = options.useGptq() ? new Gptq(Gptq.Options.defaults()).apply(fused.weights(), fused.hooks(), calibration, config, progress)
                : new Rtn().apply(fused.weights(), fused.hooks(), calibration, config, progress);
        Map<String, Object> report = new LinkedHashMap<>(q.report());
        report.put("method", name);
        Map<String, Object> section = Steps.section();
        section.put("options", options.toString());
        section.put("steps", learning.steps());
        section.put("calibration_loss_before", Steps.round(learning.lossBefore()));
        section.put("calibration_loss_after", Steps.round(learning.lossAfter()));
        section.put("loss_first_epoch", Steps.round(learning.firstEpochLoss()));
        section.put("loss_last_epoch", Steps.round(learning.lastEpochLoss()));
        section.put("transforms", fused.steps());
        section.put("online_at_run_time", fused.online().stream().map(x -> x.describe()).toList());
        section.put("equivalence_before_quantization", equivalence);
        report.put(name, section);
        return new QuantizedModel(q.weights(), q.hooks(), report);
    }
}
