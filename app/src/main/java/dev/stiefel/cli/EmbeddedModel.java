package dev.stiefel.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The default model shipped inside the program: a small LLaMA trained by {@code ./stiefel train} on stories the
 * project generates itself (see docs/DEFAULT_MODEL.md for the command that reproduces it). It lives in the jar as
 * resources and is copied once into a temporary directory so the ordinary loaders read it.
 */
final class EmbeddedModel {
    static final String RESOURCE = "/dev/stiefel/default-model/";
    static final String[] FILES = {"config.json", "model.safetensors", "tokenizer.bin"};
    private static Path dir;

    private EmbeddedModel() {}

    static synchronized Path directory() {
        if (dir != null) return dir;
        try {
            Path d = Files.createTempDirectory("stiefel-default-model");
            d.toFile().deleteOnExit();
            for (String f : FILES) {
                try (InputStream in = EmbeddedModel.class.getResourceAsStream(RESOURCE + f)) {
                    if (in == null) throw new IllegalStateException("the embedded default model is missing " + RESOURCE + f
                            + " (rebuild with ./stiefel build, or train it: see docs/DEFAULT_MODEL.md)");
                    Files.copy(in, d.resolve(f), StandardCopyOption.REPLACE_EXISTING);
                }
                d.resolve(f).toFile().deleteOnExit();
            }
            return dir = d;
        } catch (IOException e) {
            throw new UncheckedIOException("extracting the embedded model: " + e.getMessage(), e);
        }
    }
}
