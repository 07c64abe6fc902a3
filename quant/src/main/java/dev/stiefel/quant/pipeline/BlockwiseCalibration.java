package dev.stiefel.quant.pipeline;

import dev.stiefel.quant.calib.ChannelMaxima;
import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Losses;
import dev.stiefel.autograd.Optimizer;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.Progress;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.calib.Capture;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.pipeline.Steps;
import dev.stiefel.quant.transform.Online;
import dev.stiefel.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.function.IntConsumer;
import java.util.function.UnaryOperator;

/**
 * The block-by-block calibration loop that OmniQuant and FlatQuant share (OmniQuant's {@code omniquant.py}, FlatQuant's
 * {@code cali_flat_quant}):
 * <ol>
 *   <li>the calibration samples' embeddings enter block 0 as the full-precision chain's inputs (and, when quantized
 *       inputs are propagated, as the quantized chain's);</li>
 *   <li>block l runs in full precision: its outputs are the training targets and the next block's full-precision
 *       inputs; the channel maxima of its linear inputs are recorded on the way (SmoothQuant-style initialisations);</li>
 *   <li>the recipe builds the block's learnable state ({@link Recipe#prepare}) and trains it with the {@link Trainer}
 *       (MSE between the targets and the learnable block on the training inputs);</li>
 *   <li>the state is folded into the block's weights (plus whatever stays online at run time), and, when quantized
 *       inputs are propagated, the folded block turns the quantized inputs into the next block's;</li>
 *   <li>with a work directory, the block is committed so an interrupted run resumes after it.</li>
 * </ol>
 * OmniQuant trains on the quantized chain's inputs ({@code propagateQuantized}); FlatQuant trains every block on the
 * full-precision inputs ({@code fp_inps} in the reference), which also saves running the folded block.
 */
public final class BlockwiseCalibration {

    /** Called as the run advances; tests throw from it to interrupt a run at a chosen point. */
    public interface Listener {
        default void step(int layer, int epoch, int sample) {}

        default void blockSaved(int layer) {}
    }

    /** One block's learnable state as a recipe built it. */
    public interface Block {
        /** Learns the parameters with the trainer's loop; returns what the report shows for the block. */
        Map<String, Object> train(Trainer trainer);

        /** The block's weights with the learned state folded in (plain tensors). */
        LlamaWeights.Layer fold();

        /** What stays online at run time after folding (online transforms of this layer); none by default. */
        default List<Online> online() { return List.of(); }
    }

    /** Builds block {@code layer}'s learnable state from the full-precision channel maxima of its inputs. */
    @FunctionalInterface
    public interface Recipe {
        Block prepare(int layer, ChannelMaxima maxima);
    }

    /** A work directory for resuming (OmniQuant's), or none. */
    public record Resume(Path root, String label, String fingerprint) {}

    /**
     * The calibrated blocks: every layer's folded weights, the online parts in layer order, the per-block reports, and
     * the work directory's path and resume point when there was one.
     */
    public record Result(List<LlamaWeights.Layer> layers, List<Online> online, Map<String, Object> blocks, Path workDir, int resumedAfter) {}

    /**
     * One training phase: {@code epochs} passes over the calibration samples in batches of {@code batch}, each step
     * zeroing, back-propagating and stepping every optimizer; {@code beforeForward} runs before each forward (LET's
     * truncation), {@code epochStart} at the start of each epoch (temperature annealing); {@code phase} is appended to
     * the progress label; {@code advice} ends the message of a non-finite loss.
     */
    public record Loop(String phase, int epochs, int batch, List<Optimizer> optimizers, Runnable beforeForward, IntConsumer epochStart, String advice) {
        public Loop {
            if (epochs < 0 || batch < 1) throw new IllegalArgumentException("loop: epochs >= 0 and batch >= 1 needed, got " + epochs + ", " + batch);
            optimizers = List.copyOf(optimizers);
            if (beforeForward == null) beforeForward = () -> {};
            if (epochStart == null) epochStart = e -> {};
        }

        /** Steps per epoch: every sample once, the last batch possibly smaller. */
        public int steps(int samples) { return (samples + batch - 1) / batch; }
    }

    private final String name;
    private final Resume resume;
    private final boolean propagateQuantized, augLoss;
    private final ProgressFactory progress;
    private final Listener listener;

    /**
     * @param name               the method's name, for progress and messages
     * @param resume             a work directory to commit blocks to and resume from, or null (all in memory)
     * @param propagateQuantized train block l on the quantized model's outputs of blocks 0..l−1 (OmniQuant) rather
     *                           than the full-precision ones (FlatQuant)
     * @param augLoss            also match the full-precision block run on the training inputs (OmniQuant's aug_loss)
     */
    public BlockwiseCalibration(String name, Resume resume, boolean propagateQuantized, boolean augLoss, ProgressFactory progress, Listener listener) {
        if (augLoss && !propagateQuantized) throw new IllegalArgumentException(name + ": the augmented loss needs quantized inputs");
        this.name = name;
        this.resume = resume;
        this.propagateQuantized = propagateQuantized;
        this.augLoss = augLoss;
        this.progress = progress;
        this.listener = listener == null ? new Listener() {} : listener;
    }

    /**
     * Calibrates every block of {@code fp}. {@code inference} gives the hooks a folded model runs with, from the online
     * parts of the blocks done so far (used to propagate quantized inputs).
     */
    public Result run(LlamaWeights fp, CalibrationData calibration, Recipe recipe, Function<List<Online>, Hooks> inference) {
        int layers = fp.config().layers();
        List<LlamaWeights.Layer> done = new ArrayList<>(fp.layers());
        List<Online> online = new ArrayList<>();
        WorkDir wd = resume == null ? null : WorkDir.open(resume.root(), resume.label(), resume.fingerprint());
        int start = wd == null ? 0 : wd.finished();
        for (int l = 0; l < start; l++) done.set(l, wd.loadBlock(l));
        Map<String, Object> blocks = Steps.section();
        if (wd != null) blocks.putAll(wd.blockReports());

        Activations fpIn = null, qIn = null;
        if (start == 0) {
            Activations[] emb = embed(wd, fp, calibration);
            fpIn = emb[0];
            qIn = propagateQuantized ? emb[1] : null;
        } else if (start < layers) {
            fpIn = wd.openActivations("fp", start);
            qIn = propagateQuantized ? wd.openActivations("quant", start) : null;
        }
        for (int l = start; l < layers; l++) {
            long t0 = System.nanoTime();
            // full-precision outputs on full-precision inputs: the targets and the next block's full-precision inputs
            ChannelMaxima maxima = new ChannelMaxima(l);
            Activations target = runBlock(new LlamaModel(fp, maxima), l, fpIn, writer(wd, "fp", l + 1, propagateQuantized ? fpIn : null));
            Activations inputs = propagateQuantized ? qIn : fpIn;
            Activations aug = augLoss ? runBlock(new LlamaModel(fp), l, qIn, writer(wd, "aug", l, null)) : null;

            Block block = recipe.prepare(l, maxima);
            Map<String, Object> blockReport = block.train(new Trainer(fp, l, inputs, target, aug));
            LlamaWeights.Layer folded = block.fold();
            done.set(l, folded);
            online.addAll(block.online());
            boolean last = l == layers - 1;
            // the folded block, activations quantized, on the quantized inputs: the next block's quantized inputs
            Activations qOut = last || !propagateQuantized ? null
                    : runBlock(new LlamaModel(withLayers(fp, done), inference.apply(online)), l, qIn, writer(wd, "quant", l + 1, qIn));
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
        return new Result(done, online, blocks, wd == null ? null : wd.dir(), start);
    }

    /** The training loop over one block's samples, and the whole-set loss without a tape. */
    public final class Trainer {
        private final LlamaWeights fp;
        private final int layer;
        private final Activations inputs, target, aug;

        private Trainer(LlamaWeights fp, int layer, Activations inputs, Activations target, Activations aug) {
            this.fp = fp;
            this.layer = layer;
            this.inputs = inputs;
            this.target = target;
            this.aug = aug;
        }

        public int layer() { return layer; }

        public int samples() { return inputs.size(); }

        /** Block l of the full-precision model seen through {@code hooks}: input [B, T, dim] → output. */
        public UnaryOperator<Var> forward(Hooks hooks) {
            LlamaModel model = new LlamaModel(fp, hooks);
            return x -> model.block(layer, x, 0, null);
        }

        /** The training loss over the whole calibration set with {@code hooks} as they are (no tape, no update). */
        public double loss(Hooks hooks, Runnable beforeForward) { return loss(forward(hooks), beforeForward); }

        /** The same for any block function (a mixture of candidate blocks, say). */
        public double loss(UnaryOperator<Var> block, Runnable beforeForward) {
            beforeForward.run();
            double sum = 0;
            try (var off = Grad.off()) {
                for (int j = 0; j < inputs.size(); j++) sum += loss(block, j, 1).value().item();
            }
            return sum / inputs.size();
        }

        public List<Double> run(Hooks hooks, Loop loop) { return run(forward(hooks), loop); }

        /** Runs the loop; returns each epoch's mean training loss (rounded for the report). */
        public List<Double> run(UnaryOperator<Var> block, Loop loop) {
            int n = inputs.size(), steps = loop.steps(n), layers = fp.config().layers();
            List<Double> epochLoss = new ArrayList<>();
            String label = name + " block " + (layer + 1) + "/" + layers + (loop.phase() == null ? "" : " " + loop.phase());
            try (var on = Grad.on(); Progress p = progress.open(label, (long) loop.epochs() * steps, "steps")) {
                for (int e = 0; e < loop.epochs(); e++) {
                    loop.epochStart().accept(e);
                    double sum = 0;
                    for (int j = 0; j < steps; j++) {
                        loop.beforeForward().run();
                        Var loss = loss(block, j * loop.batch(), Math.min(loop.batch(), n - j * loop.batch()));
                        double v = loss.value().item();
                        if (!Double.isFinite(v))
                            throw new IllegalStateException(name + ": the loss of block " + layer + " is " + v + " at epoch " + e + ", step " + j
                                    + "; " + loop.advice());
                        for (Optimizer o : loop.optimizers()) o.zeroGrad();
                        loss.backward();
                        for (Optimizer o : loop.optimizers()) o.step();
                        sum += v;
                        p.status(String.format(Locale.ROOT, "epoch %d/%d loss %.4g", e + 1, loop.epochs(), sum / (j + 1)));
                        p.step(1);
                        listener.step(layer, e, j);
                    }
                    epochLoss.add(Steps.round(sum / steps));
                }
            }
            return epochLoss;
        }

        /** MSE to the full-precision outputs of samples [from, from + count) (plus the augmented term). */
        private Var loss(UnaryOperator<Var> block, int from, int count) {
            Var y = block.apply(Var.of(batch(inputs, from, count)));
            Var loss = Losses.mse(y, batch(target, from, count));
            return aug == null ? loss : loss.add(Losses.mse(y, batch(aug, from, count)));
        }
    }

    /** Samples [from, from + count) stacked along the batch axis (the sample itself when count is 1). */
    private static Tensor batch(Activations a, int from, int count) {
        if (count == 1) return a.get(from);
        Tensor[] parts = new Tensor[count];
        for (int i = 0; i < count; i++) parts[i] = a.get(from + i);
        return Tensor.concat(0, parts);
    }

    // ------------------------------------------------------------ activations

    private static Activations runBlock(LlamaModel model, int l, Activations in, Activations.Writer out) {
        try (var off = Grad.off()) {
            for (int i = 0; i < in.size(); i++) out.put(model.block(l, Var.of(in.get(i)), 0, null).value());
        }
        return out.finish();
    }

    /** Where a block's outputs go: a file in the work directory, or in memory (over the inputs they replace, if given). */
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

    /** {@code w} with its blocks replaced by {@code layers} (norms included). */
    public static LlamaWeights withLayers(LlamaWeights w, List<LlamaWeights.Layer> layers) {
        return new LlamaWeights(w.config(), w.embedding(), layers, w.finalNorm(), w.config().tiedEmbeddings() ? null : w.output(), List.of());
    }
}
