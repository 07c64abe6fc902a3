package dev.stiefel.llama.io;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What this JVM still holds open under a directory: memory mappings (from /proc/self/maps) and file descriptors
 * (/proc/self/fd). A reader that failed, or whose result was closed, must leave neither behind. Linux only:
 * {@link #available()} is false elsewhere and the lists are empty.
 */
final class OpenFiles {
    private static final Path MAPS = Path.of("/proc/self/maps"), FDS = Path.of("/proc/self/fd");

    private OpenFiles() {}

    static boolean available() { return Files.isReadable(MAPS) && Files.isDirectory(FDS); }

    /** Mappings and descriptors whose path lies under {@code dir} (a deleted file's path still shows, marked "(deleted)"). */
    static List<String> under(Path dir) throws IOException {
        List<String> found = new ArrayList<>();
        if (!available()) return found;
        String prefix = dir.toAbsolutePath().toString() + "/";
        for (String line : Files.readAllLines(MAPS)) if (line.contains(prefix)) found.add("mapping " + line.substring(line.indexOf('/')));
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(FDS)) {
            for (Path fd : fds) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.startsWith(prefix)) found.add("descriptor " + fd.getFileName() + " -> " + target);
                } catch (IOException e) {
                    // the descriptor closed while we listed (the one DirectoryStream itself uses, for one)
                }
            }
        }
        return found;
    }
}
