package dev.stiefel.llama.train;

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

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Next-token training of a LLaMA from scratch with the project's own autodiff: random windows of the corpus,
 * cross-entropy, AdamW (decay on matrices only, as GPT-2/llama2.c do), linear warm-up then cosine decay,
 * clipping by global norm. The batch of step k depends only on (seed, k), so a run resumed from a checkpoint
 * continues exactly as if it had not stopped. The steps run on {@link TrainingLoop}, the loop the quantization methods
 * learn with (so a loss that is not finite stops the run, with the last checkpoint kept).
 */
public final class Trainer {

    /**
     * @param checkpointEvery steps between checkpoints (0: only at the end)
     * @param evalEvery       steps between validation losses (0: only at the end)
     */
    public record Settings(int seqLen, int batch, int steps, double lr, double minLr, int warmup, double weightDecay,
                           double clip, long seed, int evalEvery, int checkpointEvery) {
        public Settings {
            if (seqLen < 2 || batch < 1 || steps < 1) throw new IllegalArgumentException("train: need seqLen >= 2, batch >= 1, steps >= 1");
            if (!(lr > 0) || minLr < 0 || warmup < 0 || weightDecay < 0 || !(clip > 0))
                throw new IllegalArgumentException("train: need lr > 0, minLr >= 0, warmup >= 0, weightDecay >= 0, clip > 0");
        }
    }

    /** One logged step; valLoss is NaN on steps without a validation pass. */
    public record Log(int step, double loss, double valLoss, double lr, double gradNorm, double tokensPerSecond) {}

    private final LlamaWeights weights;
    private final LlamaModel model;
    private final int[] train, val;
    private final Settings s;
    private final Optimizer decayed, plain;
    private final List<Var> params;

    public Trainer(LlamaWeights weights, int[] trainTokens, int[] valTokens, Settings settings) {
        if (settings.seqLen() > weights.config().maxSeqLen())
            throw new IllegalArgumentException("train: seqLen " + settings.seqLen() + " exceeds the model's context " + weights.config().maxSeqLen());
        if (trainTokens.length <= settings.seqLen() + 1)
            throw new IllegalArgumentException("train: " + trainTokens.length + " training tokens are too few for windows of " + settings.seqLen());
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

    public LlamaWeights weights() { return weights; }

    public int step() { return decayed.steps(); }

    /** The windows of step {@code k}: offsets drawn from a generator seeded by (seed, k) alone. */
    int[] batchOffsets(int k) {
        SplittableRandom r = new SplittableRandom(s.seed() * 0x9E3779B97F4A7C15L + k);
        int[] off = new int[s.batch()];
        for (int b = 0; b < off.length; b++) off[b] = r.nextInt(train.length - s.seqLen() - 1);
        return off;
    }

    /** The windows of step {@code k}: their tokens and their next tokens (the targets), batch × seqLen each. */
    private int[][] windows(int k) {
        int t = s.seqLen();
        int[] off = batchOffsets(k);
        int[] ids = new int[s.batch() * t], targets = new int[s.batch() * t];
        for (int b = 0; b < off.length; b++) {
            System.arraycopy(train, off[b], ids, b * t, t);
            System.arraycopy(train, off[b] + 1, targets, b * t, t);
        }
        return new int[][]{ids, targets};
    }

    /** Mean next-token loss on up to {@code windows} non-overlapping validation windows of seqLen tokens. */
    public double validationLoss(int windows) {
        if (val == null || val.length < s.seqLen()) return Double.NaN;
        LlamaModel frozen = new LlamaModel(weights);
        return Perplexity.evaluate(frozen, val, new Perplexity.Options(s.seqLen(), windows, 0), Progress.silent()).meanNll();
    }

    /**
     * Trains up to {@code settings.steps()}, logging every step to {@code onLog}, checkpointing to {@code checkpoint}
     * (when not null) every {@code checkpointEvery} steps and at the end.
     */
    public void run(Progress progress, Consumer<Log> onLog, TrainingCheckpoint checkpoint) throws IOException {
        run(s.steps(), progress, onLog, checkpoint);
    }

    /**
     * Trains from {@link #step()} up to step {@code until} (at most {@code settings.steps()}; the schedule stays that of
     * the whole run) on the one {@link TrainingLoop}, checkpointing at {@code until} too: a run stopped there resumes
     * from its checkpoint exactly as if it had not stopped.
     */
    public void run(int until, Progress progress, Consumer<Log> onLog, TrainingCheckpoint checkpoint) throws IOException {
        if (until > s.steps()) throw new IllegalArgumentException("train: cannot run to step " + until + " of " + s.steps());
        long tokensPerStep = (long) s.batch() * s.seqLen();
        double[] smoothed = {Double.NaN}, gradNorm = {Double.NaN}; // the norm is taken before clipping
        try {
            // from scratch there is one epoch (the steps), and the bar shows the smoothed loss and the throughput instead
            // of the loop's epoch mean, so the loop gets a silent bar
            TrainingLoop.run("train", step(), until, s.steps(), new TrainingLoop.Optimizers() {
                @Override public void zeroGrad() {
                    decayed.zeroGrad();
                    plain.zeroGrad();
                }

                @Override public void step() {
                    gradNorm[0] = GradClip.clipByNorm(params, s.clip());
                    decayed.step();
                    plain.step();
                }
            }, new TrainingLoop.Steps() {
                long t0;
                double lr;

                @Override public Var loss(int epoch, int k) {
                    t0 = System.nanoTime();
                    lr = decayed.currentLr();
                    int[][] w = windows(k);
                    return Losses.crossEntropy(model.forward(Tensor.ofInts(w[0], s.batch(), s.seqLen()), null), w[1]);
                }

                @Override public void after(int epoch, int step, double loss) {
                    double seconds = (System.nanoTime() - t0) * 1e-9;
                    int k = step + 1;
                    double valLoss = (s.evalEvery() > 0 && k % s.evalEvery() == 0) || k == s.steps() ? validationLoss(8) : Double.NaN;
                    smoothed[0] = Double.isNaN(smoothed[0]) ? loss : 0.9 * smoothed[0] + 0.1 * loss;
                    onLog.accept(new Log(k, loss, valLoss, lr, gradNorm[0], tokensPerStep / seconds));
                    progress.status(String.format(Locale.ROOT, "loss %.4f  %.0f tok/s", smoothed[0], tokensPerStep / seconds));
                    progress.step(1);
                    if (checkpoint != null && ((s.checkpointEvery() > 0 && k % s.checkpointEvery() == 0) || k == until)) {
                        try {
                            checkpoint.save(Trainer.this);
                        } catch (IOException e) {
                            throw new UncheckedIOException(e);
                        }
                    }
                }
            }, Progress.silent(), "lower the learning rate");
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    /** The optimizer state arrays in a fixed order (for checkpoints). */
    List<float[]> optimizerState() {
        List<float[]> out = new ArrayList<>(decayed.state());
        out.addAll(plain.state());
        return out;
    }

    void resumeAt(int step) {
        decayed.resumeAt(step);
        plain.resumeAt(step);
    }

    Settings settings() { return s; }

    static Path checkpointFile(Path dir) { return dir.resolve("checkpoint.safetensors"); }
}
