package dev.stiefel.quant.omni;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.io.AtomicFiles;
import dev.stiefel.llama.io.SafetensorsFile;
import dev.stiefel.llama.io.SafetensorsWriter;
import dev.stiefel.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The on-disk state of one OmniQuant run, which makes it resumable: for every finished block its folded weights
 * ({@code block-L.safetensors}), the activation caches of the next block ({@code fp-L.act}: the full-precision
 * model's inputs, {@code quant-L.act}: the quantized model's), and {@code state.json}, which records how many blocks
 * are finished, their reports, and a fingerprint of everything the result depends on (model, calibration data,
 * configuration, options). Each file is written whole under a temporary name and renamed, and {@code state.json} is
 * written last, so a run killed at any moment leaves either the previous state or the new one.
 *
 * <p>Runs live in a subdirectory named after the configuration and a hash of the fingerprint, so one work directory can
 * hold the runs of several settings; a subdirectory whose state records another fingerprint is refused.
 */
final class WorkDir {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final List<String> TENSORS = List.of("attn_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w_gate", "w_up", "w_down",
            "bq", "bk", "bv", "q_norm", "k_norm"); // the last five only where the architecture has them (Qwen2, Qwen3)

    private final Path dir;
    private final String fingerprint;
    private int finished;
    private Map<String, Object> blocks = new LinkedHashMap<>();

    private WorkDir(Path dir, String fingerprint) {
        this.dir = dir;
        this.fingerprint = fingerprint;
    }

    /** Opens (or starts) the run of {@code fingerprint} under {@code root}; {@code label} names its subdirectory. */
    @SuppressWarnings("unchecked")
    static WorkDir open(Path root, String label, String fingerprint) {
        Path dir = dev.stiefel.quant.calib.Fingerprints.runDirectory(root, label, fingerprint);
        WorkDir w = new WorkDir(dir, fingerprint);
        try {
            Files.createDirectories(dir);
            Path state = dir.resolve("state.json");
            if (Files.exists(state)) {
                Map<String, Object> s = JSON.readValue(state.toFile(), LinkedHashMap.class);
                if (!fingerprint.equals(s.get("fingerprint")))
                    throw new IllegalStateException("omniquant: " + state + " belongs to another run (" + s.get("fingerprint")
                            + "); this one is " + fingerprint + ". Use another work directory or delete that one.");
                w.finished = ((Number) s.get("finished_blocks")).intValue();
                w.blocks = (Map<String, Object>) s.getOrDefault("blocks", new LinkedHashMap<>());
            }
            // a run killed while writing leaves temporary files behind; nothing reads them
            try (Stream<Path> files = Files.list(dir)) {
                for (Path p : files.toList()) if (p.getFileName().toString().endsWith(".tmp")) Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("omniquant: cannot use work directory " + dir, e);
        }
        return w;
    }

    Path dir() { return dir; }

    /** Blocks finished and saved. */
    int finished() { return finished; }

    /** The reports of the finished blocks, by module name. */
    Map<String, Object> blockReports() { return blocks; }

    /** The activation cache file of a kind ("fp", "quant", "aug") entering or belonging to block {@code l}. */
    Path activations(String kind, int l) { return dir.resolve(kind + "-" + l + ".act"); }

    /** Opens the caches a resumed run starts from, or fails naming what is missing. */
    Activations.OnDisk openActivations(String kind, int l) {
        Path p = activations(kind, l);
        if (!Files.isRegularFile(p))
            throw new IllegalStateException("omniquant: " + dir + " says " + finished + " blocks are done but " + p.getFileName()
                    + " (the inputs of block " + l + ") is missing; delete the directory to start again");
        try {
            return Activations.open(p);
        } catch (IOException e) {
            throw new UncheckedIOException("omniquant: cannot resume from " + p, e);
        }
    }

    void delete(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException("omniquant: cannot delete " + p, e);
        }
    }

    /** Writes block l's folded weights, then records it as finished (with its report) in state.json. */
    void commit(int l, LlamaWeights.Layer layer, Map<String, Object> report) {
        try {
            Tensor[] t = {layer.attnNorm(), layer.wq(), layer.wk(), layer.wv(), layer.wo(), layer.ffnNorm(), layer.wGate(), layer.wUp(), layer.wDown(),
                    layer.bq(), layer.bk(), layer.bv(), layer.qNorm(), layer.kNorm()};
            SafetensorsWriter w = new SafetensorsWriter().metadata("fingerprint", fingerprint).metadata("block", String.valueOf(l));
            for (int i = 0; i < t.length; i++) if (t[i] != null) w.add(TENSORS.get(i), t[i].contiguous(), dev.stiefel.tensor.DType.F32);
            w.write(dir.resolve("block-" + l + ".safetensors"));
            blocks.put("model.layers." + l, report);
            finished = l + 1;
            Map<String, Object> s = new LinkedHashMap<>();
            s.put("fingerprint", fingerprint);
            s.put("finished_blocks", finished);
            s.put("blocks", blocks);
            AtomicFiles.write(dir.resolve("state.json"), JSON.writeValueAsBytes(s));
        } catch (IOException e) {
            throw new UncheckedIOException("omniquant: cannot save block " + l + " in " + dir, e);
        }
    }

    /** Block l's folded weights as saved (heap copies; the file is closed). */
    LlamaWeights.Layer loadBlock(int l) {
        Path p = dir.resolve("block-" + l + ".safetensors");
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            Tensor[] t = new Tensor[TENSORS.size()];
            for (int i = 0; i < t.length; i++) {
                if (i >= 9 && !f.contains(TENSORS.get(i))) continue; // a bias or q/k norm the architecture does not have
                Tensor m = f.tensor(TENSORS.get(i));
                t[i] = Tensor.wrap(m.toFloatArray(), m.shape());
            }
            return new LlamaWeights.Layer(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11], t[12], t[13]);
        } catch (IOException e) {
            throw new UncheckedIOException("omniquant: cannot read the saved block " + l + " from " + p, e);
        }
    }
}
