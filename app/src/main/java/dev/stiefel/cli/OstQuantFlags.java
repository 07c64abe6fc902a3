package dev.stiefel.cli;

import dev.stiefel.autograd.Losses;
import dev.stiefel.quant.method.OstQuant;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;

import java.util.Locale;

/**
 * The {@code --ost-*} flags of {@code quantize}: overrides of the OSTQuant and SpinQuant presets
 * ({@link OstQuant.Options#ostquant()}, {@link OstQuant.Options#spinquant()}). A flag left out keeps the method's own
 * default, so one command can compare {@code ostquant,spinquant} with their different optimizers and rates.
 */
final class OstQuantFlags {
    @Option(names = "--ost-epochs", description = "OSTQuant/SpinQuant: passes over the calibration windows (default " + OstQuant.Options.DEFAULT_EPOCHS + ")") Integer epochs;
    @Option(names = "--ost-steps", description = "OSTQuant/SpinQuant: step budget, overriding --ost-epochs (windows reshuffled after each pass)") Integer steps;
    @Option(names = "--ost-batch", description = "OSTQuant/SpinQuant: calibration windows per step (default " + OstQuant.Options.DEFAULT_BATCH + ")") Integer batch;
    @Option(names = "--ost-rotation-lr", description = "initial learning rate of the rotations, cosine to 0 (default: ostquant " + OstQuant.Options.OSTQUANT_ROTATION_LR
            + " Riemannian Adam, spinquant " + OstQuant.Options.SPINQUANT_ROTATION_LR + " Cayley SGD; " + OstQuant.Options.OSTQUANT_WEIGHT_LR + " when weights are fake-quantized while learning)") Double rotationLr;
    @Option(names = "--ost-scale-lr", description = "initial learning rate of the log-scales (AdamW), cosine to 0 (default " + OstQuant.Options.OSTQUANT_SCALE_LR + ")") Double scaleLr;
    @Option(names = "--ost-loss", converter = LossConverter.class,
            description = "learning objective: kl-top, kl, ce (next-token cross-entropy), mse (last hidden state) (default: ostquant kl-top, spinquant ce)") OstQuant.Loss loss;
    @Option(names = "--ost-top-k", description = "KL-Top's k, capped at the vocabulary (default " + Losses.DEFAULT_TOP_K + ")") Integer topK;
    @Option(names = "--ost-top-k-softmax", converter = VariantConverter.class,
            description = "KL-Top: 'full' = softmax over the vocabulary, then the top-k terms (default); 'topk' = softmax over the k logits only") Losses.TopKVariant topKVariant;
    @Option(names = "--ost-init", converter = InitConverter.class,
            description = "where the rotations start: womi, hadamard (random Hadamard, as QuaRot), identity (default: ostquant womi, spinquant hadamard)") OstQuant.Init init;
    @Option(names = "--ost-optimizer", converter = OptimizerConverter.class,
            description = "rotation optimizer: radam (Riemannian Adam) or cayley (Cayley SGD) (default: ostquant radam, spinquant cayley)") OstQuant.RotationOptimizer optimizer;
    @Option(names = "--ost-no-scalings", description = "OSTQuant without the learnable diagonal scalings (rotations only)") boolean noScalings;
    @Option(names = "--ost-scalings", description = "learn the diagonal scalings too (SpinQuant with OSTQuant's scalings)") boolean scalings;
    @Option(names = "--ost-weights-while-learning", paramLabel = "auto|on|off",
            description = "fake-quantize the weights during learning: auto (only weight-only configs, default), on, off") String weightsWhileLearning;
    @Option(names = "--ost-checkpoint-every", description = "steps between checkpoints (default " + OstQuant.Options.DEFAULT_CHECKPOINT_EVERY + "; the last step is always saved)") Integer checkpointEvery;
    @Option(names = "--ost-stop-after", description = "learn at most this many steps in this run, checkpoint and stop (needs --work-dir); run again to resume") Integer stopAfter;

    /** The overrides these flags ask for (nulls keep each method's preset). */
    OstQuant.Overrides overrides() {
        if (noScalings && scalings) throw new IllegalArgumentException("--ost-no-scalings and --ost-scalings contradict each other");
        Boolean s = noScalings ? Boolean.FALSE : scalings ? Boolean.TRUE : null;
        return new OstQuant.Overrides(epochs, steps, batch, rotationLr, scaleLr, loss, topK, topKVariant, init, optimizer, s,
                weightsWhileLearning == null ? null : weightSwitch(weightsWhileLearning), null, checkpointEvery, stopAfter);
    }

    private static String norm(String v) { return v.strip().toLowerCase(Locale.ROOT).replace('_', '-'); }

    static final class LossConverter implements ITypeConverter<OstQuant.Loss> {
        @Override public OstQuant.Loss convert(String v) {
            return switch (norm(v)) {
                case "kl-top", "kltop" -> OstQuant.Loss.KL_TOP;
                case "kl" -> OstQuant.Loss.KL;
                case "ce", "cross-entropy" -> OstQuant.Loss.CE;
                case "mse" -> OstQuant.Loss.MSE;
                default -> throw new IllegalArgumentException("--ost-loss: '" + v + "' is not one of kl-top, kl, ce, mse");
            };
        }
    }

    static final class VariantConverter implements ITypeConverter<Losses.TopKVariant> {
        @Override public Losses.TopKVariant convert(String v) {
            return switch (norm(v)) {
                case "full" -> Losses.TopKVariant.FULL_SOFTMAX_THEN_GATHER;
                case "topk", "top-k" -> Losses.TopKVariant.SOFTMAX_OVER_TOPK;
                default -> throw new IllegalArgumentException("--ost-top-k-softmax: '" + v + "' is not one of full, topk");
            };
        }
    }

    static final class InitConverter implements ITypeConverter<OstQuant.Init> {
        @Override public OstQuant.Init convert(String v) {
            return switch (norm(v)) {
                case "womi" -> OstQuant.Init.WOMI;
                case "hadamard" -> OstQuant.Init.HADAMARD;
                case "identity" -> OstQuant.Init.IDENTITY;
                default -> throw new IllegalArgumentException("--ost-init: '" + v + "' is not one of womi, hadamard, identity");
            };
        }
    }

    static final class OptimizerConverter implements ITypeConverter<OstQuant.RotationOptimizer> {
        @Override public OstQuant.RotationOptimizer convert(String v) {
            return switch (norm(v)) {
                case "radam", "riemannian-adam" -> OstQuant.RotationOptimizer.RIEMANNIAN_ADAM;
                case "cayley", "cayley-sgd" -> OstQuant.RotationOptimizer.CAYLEY_SGD;
                default -> throw new IllegalArgumentException("--ost-optimizer: '" + v + "' is not one of radam, cayley");
            };
        }
    }

    /** auto: null (the method decides by the config), on, off. */
    private static Boolean weightSwitch(String v) {
        return switch (norm(v)) {
            case "auto" -> null;
            case "on", "true", "yes" -> Boolean.TRUE;
            case "off", "false", "no" -> Boolean.FALSE;
            default -> throw new IllegalArgumentException("--ost-weights-while-learning: '" + v + "' is not one of auto, on, off");
        };
    }
}
