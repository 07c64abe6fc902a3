package dev.stiefel.tensor.backend;

import dev.stiefel.tensor.cpu.CpuBackend;

import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;

/**
 * Chooses the backend at run time: {@code -Dstiefel.backend=NAME} (default {@code cpu}). A named backend that
 * is missing or cannot start is an error naming the ones that exist, not a silent fallback.
 */
public final class Backends {
    private static volatile Backend current;

    private Backends() {}

    public static Backend current() {
        Backend b = current;
        if (b == null) {
            synchronized (Backends.class) {
                if (current == null) current = byName(System.getProperty("stiefel.backend", "cpu"));
                b = current;
            }
        }
        return b;
    }

    /** Replaces the current backend (tests, the CLI's --backend option). */
    public static void use(Backend backend) { current = backend; }

    /** Names of the backends that can be asked for: cpu plus every provider on the class path. */
    public static List<String> names() {
        List<String> names = new ArrayList<>(List.of(CpuBackend.NAME));
        for (BackendProvider p : ServiceLoader.load(BackendProvider.class)) names.add(p.name());
        return names;
    }

    /** Each provider's description of what it sees (devices), prefixed by its name, for {@code stiefel info}. */
    public static List<String> describe() {
        List<String> lines = new ArrayList<>();
        for (BackendProvider p : ServiceLoader.load(BackendProvider.class))
            for (String line : p.describe()) lines.add(p.name() + ": " + line);
        return lines;
    }

    public static Backend byName(String name) {
        if (CpuBackend.NAME.equals(name)) return CpuBackend.INSTANCE;
        for (BackendProvider p : ServiceLoader.load(BackendProvider.class))
            if (p.name().equals(name))
                return p.create().orElseThrow(() -> new IllegalStateException("backend '" + name + "' is installed but cannot run on this machine"));
        throw new IllegalArgumentException("unknown backend '" + name + "'; available: " + names());
    }
}
