package dev.stiefel.quant.method;

import dev.stiefel.quant.Method;

import java.util.List;

/** Methods by the name the command line and reports use. */
public final class Methods {
    private Methods() {}

    /** Options the command line can set; each method reads the ones it has. */
    public record Options(boolean actOrder, boolean staticGroups) {
        public static Options defaults() { return new Options(false, false); }
    }

    public static final List<String> NAMES = List.of("rtn", "gptq");

    public static Method byName(String name, Options o) {
        return switch (name.strip()) {
            case "rtn" -> new Rtn();
            case "gptq" -> new Gptq(Gptq.Options.defaults().withActOrder(o.actOrder()).withStaticGroups(o.staticGroups()));
            default -> throw new IllegalArgumentException("unknown method '" + name + "'; available: " + String.join(", ", NAMES));
        };
    }
}
