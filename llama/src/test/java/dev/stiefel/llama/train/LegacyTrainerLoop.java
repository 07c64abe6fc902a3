package dev.stiefel.llama.train;

import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.GradClip;
import dev.stiefel.autograd.LrSchedule;
import dev.stiefel.autograd.Losses;
import dev.stiefel.autograd.Optimizer;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.Progress;
import dev.stiefel.llama.eval.Perplexity;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Test-only reference: {@link Trainer}'s own loop as it was before it ran on {@link TrainingLoop} (its constructor,
 * {@code trainStep} and {@code run}, checkpoints left out since they do not touch the weights), kept so that
 * {@link TrainerLoopEquivalenceTest} can hold the new trainer to its weights and logs bit for bit. Not to be used by
 * anything else.
 */
final class LegacyTrainerLoop {
    private final LlamaWeights weights;
    private final LlamaModel model;
    private final int[] train, val;
    private final Trainer.Settings s;
    private final Optimizer decayed, plain;
    private final List<Var> params;

    LegacyTrainerLoop(LlamaWeights weights, int[] trainTokens, int[] valTokens, Trainer.Settings settings) {
        this.weights = weights;
        this.model = new LlamaModel(weights).trainable();
        this.train = trainTokens;
        this.val = valTokens;
        this.s = settings;
        this.params = model.parameters();
        List<Var> matrices = new ArrayList<>(), vectors = new ArrayList<>();
        for (Var p : params) (p.value().dim() >= 2 ? matrices : vectors).add(p);
        int decaySteps = Math.max(1, settings.steps() - settings.warmup());
        LrSchedule lr = LrSchedule.warmup(settings.warmup(), LrSchedule.cosine(settings.lr(), decaySteps, settings.minLr()));
        this.decayed = Optimizer.adamW(matrices, lr, 0.9, 0.95, 1e-8, settings.weightDecay());
        this.plain = Optimizer.adamW(vectors, lr, 0.9, 0.95, 1e-8, 0);
    }

    int step() { return decayed.steps(); }

    private int[] batchOffsets(int k) {
        SplittableRandom r = new SplittableRandom(s.seed() * 0x9E3779B97F4A7C15L + k);
        int[] off = new int[s.batch()];
        for (int b = 0; b < off.length; b++) off[b] = r.nextInt(train.length - s.seqLen() - 1);
        return off;
    }

    double[] trainStep() {
        int k = step(), t = s.seqLen();
        int[] off = batchOffsets(k);
        int[] ids = new int[s.batch() * t], targets = new int[s.batch() * t];
        for (int b = 0; b < off.length; b++) {
            System.arraycopy(train, off[b], ids, b * t, t);
            System.arraycopy(train, off[b] + 1, targets, b * t, t);
        }
        Var loss;
        try (var on = Grad.on()) {
            loss = Losses.crossEntropy(model.forward(Tensor.ofInts(ids, s.batch(), t), null), targets);
            loss.backward();
        }
        double norm = GradClip.clipByNorm(params, s.clip());
        decayed.step();
        plain.step();
        decayed.zeroGrad();
        plain.zeroGrad();
        return new double[]{loss.value().item(), norm};
    }

    private double validationLoss(int windows) {
        if (val == null || val.length < s.seqLen()) return Double.NaN;
        return Perplexity.evaluate(new LlamaModel(weights), val, new Perplexity.Options(s.seqLen(), windows, 0), Progress.silent()).meanNll();
    }

    void run(Consumer<Trainer.Log> onLog) {
        long tokensPerStep = (long) s.batch() * s.seqLen();
        while (step() < s.steps()) {
            long t0 = System.nanoTime();
            double lr = decayed.currentLr();
            double[] r = trainStep();
            double seconds = (System.nanoTime() - t0) * 1e-9;
            int k = step();
            boolean last = k == s.steps();
            double valLoss = (s.evalEvery() > 0 && k % s.evalEvery() == 0) || last ? validationLoss(8) : Double.NaN;
            onLog.accept(new Trainer.Log(k, r[0], valLoss, lr, r[1], tokensPerStep / seconds));
        }
    }

    /** What a checkpoint holds besides the weights, restored as {@code TrainingCheckpoint} did (a resumed old run). */
    void resumeFrom(LegacyTrainerLoop stopped) {
        List<Tensor> from = stopped.weights.tensors(), to = weights.tensors();
        for (int i = 0; i < to.size(); i++) to.get(i).copyFrom(from.get(i));
        List<float[]> src = new ArrayList<>(stopped.decayed.state()), dst = new ArrayList<>(decayed.state());
        src.addAll(stopped.plain.state());
        dst.addAll(plain.state());
        for (int i = 0; i < dst.size(); i++) System.arraycopy(src.get(i), 0, dst.get(i), 0, dst.get(i).length);
        decayed.resumeAt(stopped.step());
        plain.resumeAt(stopped.step());
    }
}
