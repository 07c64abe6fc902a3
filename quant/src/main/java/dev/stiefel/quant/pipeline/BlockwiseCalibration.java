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
import dev.stiefel.llama.train.TrainingLoop;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.pipeline.Steps;
import dev.stiefel.quant.transform.Online;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.function.IntConsumer;
import java.util.function.UnaryOperator;

/**
 * Learning per block over the {@link BlockDriver} (OmniQuant's {@code omniquant.py}, FlatQuant's {@code cali_flat_quant}):
 * for each block, a {@link Recipe} builds its learnable state from the full-precision channel maxima, the {@link Trainer}
 * fits it (MSE between the full-precision block's outputs and the learnable block's on the training inputs), and the state
 * is folded into the block's weights (plus whatever stays online at run time). OmniQuant trains on the quantized chain's
 * inputs ({@code propagateQuantized}); FlatQuant trains every block on the full-precision inputs ({@code fp_inps} in the
 * reference), which also saves running the folded block.
 */
public final class BlockwiseCalibration {

    /** One block's learnable state as a recipe built it. */
    public interface Block {
        /** Learns the parameters with the trainer's loop; returns what the report shows for the block. */
        Report.BlockFigures train(Trainer trainer);

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
    private final ProgressFactory progress;
    private final BlockDriver driver;

    /**
     * @param name               the method's name, for progress and messages
     * @param resume             a work directory to commit blocks to and resume from, or null (all in memory)
     * @param propagateQuantized train block l on the quantized model's outputs of blocks 0..l−1 (OmniQuant) rather
     *                           than the full-precision ones (FlatQuant)
     * @param augLoss            also match the full-precision block run on the training inputs (OmniQuant's aug_loss)
     */
    public BlockwiseCalibration(String name, BlockDriver.Resume resume, boolean propagateQuantized, boolean augLoss, ProgressFactory progress,
                                BlockDriver.Listener listener) {
        if (augLoss && !propagateQuantized) throw new IllegalArgumentException(name + ": the augmented loss needs quantized inputs");
        this.name = name;
        this.progress = progress;
        this.driver = new BlockDriver(name, propagateQuantized ? BlockDriver.Inputs.QUANTIZED : BlockDriver.Inputs.FULL_PRECISION, true, augLoss,
                resume, listener);
    }

    /**
     * Calibrates every block of {@code fp}. {@code inference} gives the hooks a folded model runs with, from the online
     * parts of the blocks done so far (used to propagate quantized inputs).
     */
    public BlockDriver.Result run(LlamaWeights fp, CalibrationData calibration, Recipe recipe, Function<List<Online>, Hooks> inference) {
        return driver.run(fp, calibration, b -> {
            Block block = recipe.prepare(b.layer(), b.maxima());
            // a device backend keeps the block's weights for its whole training (else every step would upload them again)
            Report.BlockFigures report = block.train(new Trainer(BlockDriver.onBackend(fp, b.layer()), b.layer(), b.position(), b.inputs(), b.targets(), b.augmented()));
            return new BlockDriver.Done(block.fold(), block.online(), report);
        }, inference);
    }

    /** The training loop over one block's samples, and the whole-set loss without a tape. */
    public final class Trainer {
        private final LlamaWeights fp;
        private final int layer;
        private final String position;
        private final Activations inputs, target, aug;

        private Trainer(LlamaWeights fp, int layer, String position, Activations inputs, Activations target, Activations aug) {
            this.fp = fp;
            this.layer = layer;
            this.position = position;
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
            int n = inputs.size(), steps = loop.steps(n);
            String label = name + " block " + position + (loop.phase() == null ? "" : " " + loop.phase());
            double[] epochLoss;
            try (Progress p = progress.open(label, (long) loop.epochs() * steps, "steps")) {
                epochLoss = TrainingLoop.run(label, 0, loop.epochs() * steps, steps, new TrainingLoop.Optimizers() {
                    @Override public void zeroGrad() { for (Optimizer o : loop.optimizers()) o.zeroGrad(); }

                    @Override public void step() { for (Optimizer o : loop.optimizers()) o.step(); }
                }, new TrainingLoop.Steps() {
                    @Override public void epochStart(int epoch) { loop.epochStart().accept(epoch); }

                    @Override public Var loss(int epoch, int j) {
                        loop.beforeForward().run();
                        return Trainer.this.loss(block, j * loop.batch(), Math.min(loop.batch(), n - j * loop.batch()));
                    }

                    @Override public void after(int epoch, int j, double loss) { driver.listener().step(layer, epoch, j); }
                }, p, loop.advice());
            }
            List<Double> rounded = new ArrayList<>();
            for (double v : epochLoss) rounded.add(Steps.round(v));
            return rounded;
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
}
