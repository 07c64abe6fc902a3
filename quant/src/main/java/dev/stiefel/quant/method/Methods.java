package dev.stiefel.quant.method;

import dev.stiefel.quant.Method;

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
     */
    public record Options(boolean actOrder, boolean staticGroups, double smoothAlpha, SmoothQuant.Level smoothLevel, long rotationSeed) {
        public Options(boolean actOrder, boolean staticGroups) { this(actOrder, staticGroups, 0.5, SmoothQuant.Level.CONFIG, 0); }

        public static Options defaults() { return new Options(false, false); }

        public Options withSmoothAlpha(double a) { return new Options(actOrder, staticGroups, a, smoothLevel, rotationSeed); }

        public Options withSmoothLevel(SmoothQuant.Level l) { return new Options(actOrder, staticGroups, smoothAlpha, l, rotationSeed); }

        public Options withRotationSeed(long s) { return new Options(actOrder, staticGroups, smoothAlpha, smoothLevel, s); }

        Gptq.Options gptq() { return Gptq.Options.defaults().withActOrder(actOrder).withStaticGroups(staticGroups); }
    }

    public static final List<String> NAMES = List.of("rtn", "gptq", "smoothquant", "awq", "quarot-rtn", "quarot-gptq");

    public static Method byName(String name, Options o) {
        return switch (name.strip()) {
            case "rtn" -> new Rtn();
            case "gptq" -> new Gptq(o.gptq());
            case "smoothquant" -> new SmoothQuant(new SmoothQuant.Options(o.smoothAlpha(), o.smoothLevel()));
            case "awq" -> new Awq();
            case "quarot-rtn" -> new QuaRot(QuaRot.Options.defaults().withSeed(o.rotationSeed()), false);
            case "quarot-gptq", "quarot" -> new QuaRot(QuaRot.Options.defaults().withSeed(o.rotationSeed()).withGptq(o.gptq()), true);
            default -> throw new IllegalArgumentException("unknown method '" + name + "'; available: " + String.join(", ", NAMES)
                    + " (quarot = quarot-gptq)");
        };
    }
}
