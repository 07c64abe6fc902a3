package dev.stiefel.quant.pipeline;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.stiefel.llama.io.AtomicFiles;
import dev.stiefel.llama.io.SafetensorsFile;
import dev.stiefel.llama.io.SafetensorsWriter;
import dev.stiefel.quant.calib.Fingerprints;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The one resumable checkpoint store: the directory of one run, {@code <root>/<label>-<hash of its fingerprint>}, where
 * the fingerprint names everything the result depends on (model, calibration data, configuration, options). Every file
 * is written whole under a temporary name and renamed, and carries the fingerprint, so a run killed at any moment leaves
 * the previous file or the new one, and a file of another run is refused by name instead of resumed. OmniQuant's
 * block-by-block {@link WorkDir} and OSTQuant's learning checkpoint are both files in one.
 */
public final class RunDirectory {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final Path dir;
    private final String fingerprint, owner;

    private RunDirectory(Path dir, String fingerprint, String owner) {
        this.dir = dir;
        this.fingerprint = fingerprint;
        this.owner = owner;
    }

    /**
     * Opens (or starts) the run of {@code fingerprint} under {@code root}; {@code owner} starts every message (the
     * method's name). Temporary files a killed run left behind are removed: nothing reads them.
     */
    public static RunDirectory open(Path root, String label, String fingerprint, String owner) {
        Path dir = Fingerprints.runDirectory(root, label, fingerprint);
        try {
            Files.createDirectories(dir);
            try (Stream<Path> files = Files.list(dir)) {
                for (Path p : files.toList()) if (p.getFileName().toString().endsWith(".tmp")) Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(owner + ": cannot use work directory " + dir, e);
        }
        return new RunDirectory(dir, fingerprint, owner);
    }

    public Path dir() { return dir; }

    public Path file(String name) { return dir.resolve(name); }

    public boolean exists(String name) { return Files.isRegularFile(file(name)); }

    /** Writes {@code tensors} as {@code name}, atomically, with the run's fingerprint in its metadata. */
    public void writeTensors(String name, SafetensorsWriter tensors) {
        try {
            tensors.metadata("fingerprint", fingerprint).write(file(name));
        } catch (IOException e) {
            throw new UncheckedIOException(owner + ": cannot write " + file(name), e);
        }
    }

    /** Opens a tensor file of this run; a file that records another fingerprint is refused. The caller closes it. */
    public SafetensorsFile readTensors(String name) throws IOException {
        SafetensorsFile f = SafetensorsFile.open(file(name));
        String found = f.metadata().get("fingerprint");
        if (!fingerprint.equals(found)) {
            f.close();
            throw anotherRun(file(name), found);
        }
        return f;
    }

    /** Writes {@code state} (with the fingerprint) as JSON, atomically. */
    public void writeJson(String name, Map<String, Object> state) {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("fingerprint", fingerprint);
        s.putAll(state);
        try {
            AtomicFiles.write(file(name), JSON.writeValueAsBytes(s));
        } catch (IOException e) {
            throw new UncheckedIOException(owner + ": cannot write " + file(name), e);
        }
    }

    /** A JSON state of this run, or null when there is none yet; another run's is refused. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> readJson(String name) {
        Path p = file(name);
        if (!Files.exists(p)) return null;
        try {
            Map<String, Object> s = JSON.readValue(p.toFile(), LinkedHashMap.class);
            if (!fingerprint.equals(s.get("fingerprint"))) throw anotherRun(p, String.valueOf(s.get("fingerprint")));
            return s;
        } catch (IOException e) {
            throw new UncheckedIOException(owner + ": cannot read " + p + "; delete it to start again", e);
        }
    }

    public void delete(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException(owner + ": cannot delete " + p, e);
        }
    }

    private IllegalStateException anotherRun(Path p, String found) {
        return new IllegalStateException(owner + ": " + p + " belongs to another run (" + found + "); this one is " + fingerprint
                + ". Use another work directory or delete that one.");
    }
}
