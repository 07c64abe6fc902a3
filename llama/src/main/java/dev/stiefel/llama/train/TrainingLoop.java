package dev.stiefel.llama.train;

import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Progress;

import java.util.Locale;

/**
 * The one training loop: of {@link Trainer} (next-token training from scratch, one epoch of steps) and of quant's
 * learned methods (OSTQuant/SpinQuant end to end, OmniQuant and FlatQuant per block): steps [start, total) in epochs of
 * {@code stepsPerEpoch}; each step builds its loss on the tape, stops at once on a loss that is not finite (with the
 * caller's advice), zeroes the gradients, back-propagates and steps every optimizer. What differs between users (how a
 * step's batch is drawn, what the optimizer step includes, such as clipping the gradients, and what is logged or saved
 * after it) is the {@link Optimizers} and {@link Steps} they pass.
 */
public final class TrainingLoop {
    private TrainingLoop() {}

    /** The optimizers of a run, stepped together (after anything the gradients need first, such as clipping). */
    public interface Optimizers {
        void zeroGrad();

        void step();
    }

    /** What a method supplies. */
    public interface Steps {
        /** An epoch starts (reshuffle the batches, anneal a temperature). */
        default void epochStart(int epoch) {}

        /** The loss of step {@code step} of {@code epoch}, on the tape. */
        Var loss(int epoch, int step);

        /** After the optimizers stepped, with the step's loss (checkpoints, listeners). */
        default void after(int epoch, int step, double loss) {}
    }

    /**
     * Runs steps [start, total). {@code bar} shows the epoch's mean loss so far; {@code advice} ends the message of a
     * non-finite loss. Returns the mean loss of every epoch that ended in this run, in order (an epoch resumed in its
     * middle counts the steps of this run only).
     */
    public static double[] run(String label, int start, int total, int stepsPerEpoch, Optimizers optimizers, Steps steps, Progress bar, String advice) {
        if (stepsPerEpoch < 1) throw new IllegalArgumentException(label + ": at least one step per epoch, got " + stepsPerEpoch);
        int epochs = (total + stepsPerEpoch - 1) / stepsPerEpoch;
        double[] epochLoss = new double[Math.max(0, epochs - start / stepsPerEpoch)];
        double sum = 0;
        int counted = 0;
        try (var on = Grad.on()) {
            for (int step = start; step < total; step++) {
                int epoch = step / stepsPerEpoch, s = step % stepsPerEpoch;
                if (s == 0 || step == start) steps.epochStart(epoch);
                Var loss = steps.loss(epoch, s);
                double v = loss.value().item();
                if (!Double.isFinite(v))
                    throw new IllegalStateException(label + ": the loss is " + v + " at epoch " + epoch + ", step " + s + "; " + advice);
                optimizers.zeroGrad();
                loss.backward();
                optimizers.step();
                sum += v;
                counted++;
                bar.status(String.format(Locale.ROOT, "epoch %d/%d loss %.4g", epoch + 1, epochs, sum / counted));
                bar.step(1);
                steps.after(epoch, s, v);
                if (s == stepsPerEpoch - 1 || step == total - 1) {
                    epochLoss[epoch - start / stepsPerEpoch] = sum / counted;
                    sum = 0;
                    counted = 0;
                }
            }
        }
        return epochLoss;
    }
}
