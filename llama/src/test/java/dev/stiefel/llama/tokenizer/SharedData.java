package dev.stiefel.llama.tokenizer;

import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;

/** Files under ../shared (system property {@code stiefel.shared}); a test skips with a message when one is absent. */
final class SharedData {
    private SharedData() {}

    static Path require(String relative) {
        String root = System.getProperty("stiefel.shared");
        Assumptions.assumeTrue(root != null, "system property stiefel.shared is not set (surefire sets it to ../shared)");
        Path p = Path.of(root, relative);
        Assumptions.assumeTrue(Files.isRegularFile(p), p + " is absent");
        return p;
    }
}
