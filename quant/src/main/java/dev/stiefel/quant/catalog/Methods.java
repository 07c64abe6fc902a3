package dev.stiefel.quant.catalog;

import dev.stiefel.quant.method.Awq;
import dev.stiefel.quant.method.Gptq;
import dev.stiefel.quant.method.OstQuant;
import dev.stiefel.quant.method.QuaRot;
import dev.stiefel.quant.method.Rtn;
import dev.stiefel.quant.method.SmoothQuant;
import dev.stiefel.quant.pipeline.Method;
import dev.stiefel.quant.adaptive.OutlierGuided;
import dev.stiefel.quant.flat.FlatQuant;
import dev.stiefel.quant.omni.OmniQuant;

import java.nio.file.Path;
import java.util.List;

/** Methods by the name the command line and reports use. */
public final class Methods {
    private Methods() {}

    /**
     * Options the command line can set; each method reads the ones it has.
     *
     * @param actOrder     GPTQ (and QuaRot-GPTQ): columns by decreasing Hessian diagonal
     * @param staticGroups GPTQ: group scales fixed before the column loop
     * @param smoothAlpha  SmoothQuant's migration strength α (0.5)
     * @param smoothLevel  SmoothQuant's quantizer settings: the config's, or the paper's O1–O3
     * @param rotationSeed QuaRot's random Hadamard signs
     * @param omniquant    OmniQuant's epochs, LWC/LET switches, learning rates, alpha and work directory
     * @param flatquant    FlatQuant's and the adaptive search's epochs, learning rates, plan and search settings
     * @param ostquant     OSTQuant/SpinQuant: the command line's overrides of each method's preset (--ost-* flags)
     * @param kurtosisRule adaptive-kurtosis: the outlier-guided rule's threshold, kinds and pooling
     * @param workDir      GPTQ and OmniQuant: where each finished block is committed, so that the same run resumes after
     *                     it; OSTQuant and SpinQuant: where the learning is checkpointed (null: all in memory); the other
     *                     methods refuse one
     */
    public record Options(boolean actOrder, boolean staticGroups, double smoothAlpha, SmoothQuant.Level smoothLevel, long rotationSeed,
                          OmniQuant.Options omniquant, FlatQuant.Options flatquant, OstQuant.Overrides ostquant,
                          OutlierGuided.Rule kurtosisRule, Path workDir) {
        /** GPTQ's switches, every other method at its defaults. */
        public Options(boolean actOrder, boolean staticGroups) {
            this(actOrder, staticGroups, 0.5, SmoothQuant.Level.CONFIG, 0);
        }

        /** The baselines' settings, the learned methods at their defaults. */
        public Options(boolean actOrder, boolean staticGroups, double smoothAlpha, SmoothQuant.Level smoothLevel, long rotationSeed) {
            this(actOrder, staticGroups, smoothAlpha, smoothLevel, rotationSeed, OmniQuant.Options.defaults(), FlatQuant.Options.defaults(),
                    OstQuant.Overrides.none(), OutlierGuided.Rule.defaults(), null);
        }

        public static Options defaults() { return new Options(false, false); }

        public Options withSmoothAlpha(double a) { return new Options(actOrder, staticGroups, a, smoothLevel, rotationSeed, omniquant, flatquant, ostquant, kurtosisRule, workDir); }


        public Options withRotationSeed(long s) { return new Options(actOrder, staticGroups, smoothAlpha, smoothLevel, s, omniquant, flatquant, ostquant, kurtosisRule, workDir); }

        public Options withOmniquant(OmniQuant.Options o) { return new Options(actOrder, staticGroups, smoothAlpha, smoothLevel, rotationSeed, o, flatquant, ostquant, kurtosisRule, workDir); }

        public Options withFlatquant(FlatQuant.Options f) { return new Options(actOrder, staticGroups, smoothAlpha, smoothLevel, rotationSeed, omniquant, f, ostquant, kurtosisRule, workDir); }

        public Options withOstquant(OstQuant.Overrides o) { return new Options(actOrder, staticGroups, smoothAlpha, smoothLevel, rotationSeed, omniquant, flatquant, o, kurtosisRule, workDir); }

        public Options withKurtosisRule(OutlierGuided.Rule r) { return new Options(actOrder, staticGroups, smoothAlpha, smoothLevel, rotationSeed, omniquant, flatquant, ostquant, r, workDir); }

        public Options withWorkDir(Path d) { return new Options(actOrder, staticGroups, smoothAlpha, smoothLevel, rotationSeed, omniquant, flatquant, ostquant, kurtosisRule, d); }

        Gptq.Options gptq() { return Gptq.Options.defaults().withActOrder(actOrder).withStaticGroups(staticGroups); }
    }

    /**
     * omniquant runs the reference scripts' recipe (LWC always, LET when activations or K/V are quantized);
     * omniquant-lwc, omniquant-let and omniquant-lwc-let force one, the other or both on (the ablation).
     */
    public static final List<String> NAMES = List.of("rtn", "gptq", "smoothquant", "smoothquant-gptq", "awq", "quarot-rtn", "quarot-gptq", "ostquant", "ostquant-rtn",
            "spinquant", "spinquant-rtn", "omniquant", "omniquant-lwc", "omniquant-let", "omniquant-lwc-let",
            "flatquant", "flatquant-rotation", "adaptive-search", "adaptive-kurtosis");

    /** The methods that resume from a work directory: after the last finished block, or the last learning checkpoint. */
    public static final List<String> RESUMABLE = List.of("gptq", "omniquant", "omniquant-lwc", "omniquant-let", "omniquant-lwc-let",
            "ostquant", "ostquant-rtn", "spinquant", "spinquant-rtn");

    public static Method byName(String name, Options o) {
        String n = name.strip();
        if (o.workDir() != null && NAMES.contains(n) && !RESUMABLE.contains(n))
            throw new IllegalArgumentException("--work-dir: " + n + " does not resume from a work directory; those that do: " + String.join(", ", RESUMABLE));
        OmniQuant.Options omni = o.workDir() == null ? o.omniquant() : o.omniquant().withWorkDir(o.workDir());
        OstQuant.Overrides ost = o.workDir() == null ? o.ostquant() : o.ostquant().withWorkDir(o.workDir());
        return switch (n) {
            case "rtn" -> new Rtn();
            case "gptq" -> new Gptq(o.gptq(), o.workDir());
            case "smoothquant" -> new SmoothQuant(new SmoothQuant.Options(o.smoothAlpha(), o.smoothLevel()));
            case "smoothquant-gptq" -> new SmoothQuant(new SmoothQuant.Options(o.smoothAlpha(), o.smoothLevel()), new Gptq(o.gptq()));
            case "awq" -> new Awq();
            case "quarot-rtn" -> new QuaRot(QuaRot.Options.defaults().withSeed(o.rotationSeed()), false);
            case "quarot-gptq", "quarot" -> new QuaRot(QuaRot.Options.defaults().withSeed(o.rotationSeed()).withGptq(o.gptq()), true);
            case "ostquant" -> new OstQuant("ostquant", ost.applyTo(OstQuant.Options.ostquant().withSeed(o.rotationSeed())), o.gptq());
            case "ostquant-rtn" -> new OstQuant("ostquant-rtn", ost.applyTo(OstQuant.Options.ostquant().withSeed(o.rotationSeed()).withGptq(false)));
            case "spinquant" -> new OstQuant("spinquant", ost.applyTo(OstQuant.Options.spinquant().withSeed(o.rotationSeed())), o.gptq());
            case "spinquant-rtn" -> new OstQuant("spinquant-rtn", ost.applyTo(OstQuant.Options.spinquant().withSeed(o.rotationSeed()).withGptq(false)));
            case "omniquant" -> new OmniQuant("omniquant", omni);
            case "omniquant-lwc" -> new OmniQuant("omniquant-lwc", omni.withLwc(true).withLet(false));
            case "omniquant-let" -> new OmniQuant("omniquant-let", omni.withLwc(false).withLet(true));
            case "omniquant-lwc-let" -> new OmniQuant("omniquant-lwc-let", omni.withLwc(true).withLet(true));
            case "flatquant" -> FlatQuant.flatquant(o.flatquant());
            case "flatquant-rotation" -> FlatQuant.rotation(o.flatquant());
            case "adaptive-search" -> FlatQuant.search(o.flatquant());
            case "adaptive-kurtosis" -> FlatQuant.withRule("adaptive-kurtosis", o.kurtosisRule()::select, o.flatquant());
            default -> throw new IllegalArgumentException("unknown method '" + name + "'; available: " + String.join(", ", NAMES)
                    + " (quarot = quarot-gptq)");
        };
    }
}
