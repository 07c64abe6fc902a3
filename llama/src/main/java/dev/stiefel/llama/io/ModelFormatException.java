package dev.stiefel.llama.io;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A model file that does not follow its format: truncated, a length or offset outside the file, overlapping
 * tensors, an unknown dtype, a shape that does not match the config. The message always starts with the file
 * and says what was found and what was expected (and, where there is one, the tensor and the byte offset).
 */
public final class ModelFormatException extends IOException {
    private final Path file;

    public ModelFormatException(Path file, String message) {
        super(file + ": " + message);
        this.file = file;
    }

    public ModelFormatException(Path file, String message, Throwable cause) {
        super(file + ": " + message, cause);
        this.file = file;
    }

    /** The file that is malformed. */
    public Path file() { return file; }
}
