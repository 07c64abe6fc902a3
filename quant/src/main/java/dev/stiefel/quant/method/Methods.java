package dev.stiefel.quant.method;

import dev.stiefel.quant.Method;
import dev.stiefel.quant.omni.OmniQuant;

import java.util.List;

/** Methods by the name the command line and reports use. */
public final class Methods {
    private Methods() {}

    /**
     * Options the command line can set; each method reads the ones it has.
     *
     * @param omniquant OmniQuant's epochs, LWC/LET switches, learning rates, alpha and work directory
     */
    public record Options(boolean actOrder, boolean staticGroups, OmniQuant.Options omniquant) {
        public Options(boolean actOrder, boolean staticGroups) { this(actOrder, staticGroups, OmniQuant.Options.defaults()); }

        public static Options defaults() { return new Options(false, false); }

        public Options withOmniquant(OmniQuant.Options o) { return new Options(actOrder, staticGroups, o); }
    }

    /**
     * omniquant runs the reference scripts' recipe (LWC always, LET when activations or K/V are quantized);
     * omniquant-lwc, omniquant-let and omniquant-lwc-let force one, the other or both on (the ablation).
     */
    public static final List<String> NAMES = List.of("rtn", "gptq", "omniquant", "omniquant-lwc", "omniquant-let", "omniquant-lwc-let");

    public static Method byName(String name, Options o) {
        OmniQuant.Options omni = o.omniquant();
        return switch (name.strip()) {
            case "rtn" -> new Rtn();
            case "gptq" -> new Gptq(Gptq.Options.defaults().withActOrder(o.actOrder()).withStaticGroups(o.staticGroups()));
            case "omniquant" -> new OmniQuant("omniquant", omni);
            case "omniquant-lwc" -> new OmniQuant("omniquant-lwc", omni.withLwc(true).withLet(false));
            case "omniquant-let" -> new OmniQuant("omniquant-let", omni.withLwc(false).withLet(true));
            case "omniquant-lwc-let" -> new OmniQuant("omniquant-lwc-let", omni.withLwc(true).withLet(true));
            default -> throw new IllegalArgumentException("unknown method '" + name + "'; available: " + String.join(", ", NAMES));
        };
    }
}
