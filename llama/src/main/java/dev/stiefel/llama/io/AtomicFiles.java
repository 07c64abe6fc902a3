package dev.stiefel.llama.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Writes a file so that readers see either the old file or the complete new one, never a half-written one:
 * the body writes a temporary file in the same directory, which is forced to disk and then renamed over the
 * target. A failure deletes the temporary file and leaves the target untouched.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    @FunctionalInterface
    public interface Body { void write(FileChannel out) throws IOException; }

    public static void write(Path target, Body body) throws IOException {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + abs.getFileName() + ".", ".tmp");
        try {
            try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                body.write(out);
                out.force(true);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException | RuntimeException | Error e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
    }

    /** Writes {@code bytes} to {@code target} atomically (reports, JSON results, small files). */
    public static void write(Path target, byte[] bytes) throws IOException {
        write(target, out -> writeFully(out, java.nio.ByteBuffer.wrap(bytes)));
    }

    /** Writes every byte of {@code buf} (a channel may take fewer bytes per call). */
    static void writeFully(FileChannel out, java.nio.ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) out.write(buf);
    }
}
