package dev.stiefel.quant.pipeline;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.io.PackedCheckpoint;
import dev.stiefel.llama.io.SafetensorsFile;
import dev.stiefel.llama.io.SafetensorsWriter;
import dev.stiefel.tensor.PackedStorage;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.packed.PackedMatrix;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The on-disk state of one block-wise run (GPTQ, OmniQuant), which makes it resumable: for every finished block its
 * weights ({@code block-L.safetensors}: packed matrices as their codes, scales and zero points, everything else in
 * f32), the activation caches of the next block ({@code fp-L.act}: the full-precision model's inputs, {@code
 * quant-L.act}: the quantized model's), and {@code state.json}, which records how many blocks are finished, their
 * reports, and a fingerprint of everything the result depends on (model, calibration data, configuration, options).
 * The files live in a {@link RunDirectory}: each is written whole and renamed, and {@code state.json} is written last,
 * so a run killed at any moment leaves either the previous state or the new one.
 *
 * <p>Runs live in a subdirectory named after the method, the configuration and a hash of the fingerprint, so one work
 * directory can hold the runs of several settings; a subdirectory whose state records another fingerprint is refused.
 */
final class WorkDir {
    private static final List<String> TENSORS = List.of("attn_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w_gate", "w_up", "w_down",
            "bq", "bk", "bv", "q_norm", "k_norm"); // the last five only where the architecture has them (Qwen2, Qwen3)
    private static final String STATE = "state.json";

    private final RunDirectory run;
    private final String owner;
    private int finished;
    /** The block figures as state.json keeps them: snake_case fields under each block's module name. */
    private static final ObjectMapper FIGURES = Report.JSON;

    private final List<Report.BlockFigures> blocks = new ArrayList<>();

    private WorkDir(RunDirectory run, String owner) {
        this.run = run;
        this.owner = owner;
    }

    /**
     * Opens (or starts) the run of {@code fingerprint} under {@code root}; {@code label} names its subdirectory,
     * {@code owner} (the method) starts every message.
     */
    @SuppressWarnings("unchecked")
    static WorkDir open(Path root, String label, String fingerprint, String owner) {
        WorkDir w = new WorkDir(RunDirectory.open(root, label, fingerprint, owner), owner);
        Map<String, Object> s = w.run.readJson(STATE);
        if (s != null) {
            w.finished = ((Number) s.get("finished_blocks")).intValue();
            for (Object b : ((Map<String, Object>) s.getOrDefault("blocks", Map.of())).values())
                w.blocks.add(FIGURES.convertValue(b, Report.BlockFigures.class));
        }
        return w;
    }

    Path dir() { return run.dir(); }

    /** Blocks finished and saved. */
    int finished() { return finished; }

    /** The figures of the finished blocks, in layer order. */
    List<Report.BlockFigures> blockFigures() { return blocks; }

    /** The activation cache file of a kind ("fp", "quant", "aug") entering or belonging to block {@code l}. */
    Path activations(String kind, int l) { return run.file(activationsName(kind, l)); }

    /** The file name of a kind's activations entering (or belonging to) block l, in a work or scratch directory. */
    static String activationsName(String kind, int l) { return kind + "-" + l + ".act"; }

    /**
     * Deletes the activation files a killed run left behind other than {@code keep} (a block's scratch, or outputs it
     * had not committed): they would be written again, and for a 7B model they are tens of gigabytes.
     */
    void deleteActivationsExcept(java.util.Set<String> keep) {
        try (var files = Files.list(run.dir())) {
            for (Path p : files.toList()) {
                String name = p.getFileName().toString();
                if (name.endsWith(".act") && !keep.contains(name)) Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(owner + ": cannot clean " + run.dir(), e);
        }
    }

    /** Opens the caches a resumed run starts from, or fails naming what is missing. */
    Activations.OnDisk openActivations(String kind, int l) {
        Path p = activations(kind, l);
        if (!Files.isRegularFile(p))
            throw new IllegalStateException(owner + ": " + run.dir() + " says " + finished + " blocks are done but " + p.getFileName()
                    + " (the inputs of block " + l + ") is missing; delete the directory to start again");
        try {
            return Activations.open(p);
        } catch (IOException e) {
            throw new UncheckedIOException(owner + ": cannot resume from " + p, e);
        }
    }

    /**
     * Writes block l's weights, then records it as finished (with its report) in state.json. A packed matrix keeps its
     * codes (its packing in the file's metadata under {@code NAME.packing}), so a resumed run holds what an uninterrupted
     * one does.
     */
    void commit(int l, LlamaWeights.Layer layer, Report.BlockFigures figures) {
        Tensor[] t = tensors(layer);
        SafetensorsWriter w = new SafetensorsWriter().metadata("block", String.valueOf(l));
        for (int i = 0; i < t.length; i++) {
            if (t[i] == null) continue;
            if (t[i].storage() instanceof PackedStorage ps) {
                PackedMatrix m = ps.matrix();
                w.metadata(TENSORS.get(i) + ".packing", m.bits() + " " + m.groupSize() + " " + m.symmetric());
                PackedCheckpoint.addPacked(w, TENSORS.get(i), m);
            } else w.add(TENSORS.get(i), t[i].contiguous(), dev.stiefel.tensor.DType.F32);
        }
        run.writeTensors("block-" + l + ".safetensors", w);
        blocks.add(figures);
        finished = l + 1;
        Map<String, Object> byName = new LinkedHashMap<>();
        for (int i = 0; i < blocks.size(); i++) byName.put("model.layers." + i, FIGURES.convertValue(blocks.get(i), Map.class));
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("finished_blocks", finished);
        s.put("blocks", byName);
        run.writeJson(STATE, s);
    }

    /** Block l's weights as saved (heap copies; the file is closed); {@code like} is the block they replace, for shapes. */
    LlamaWeights.Layer loadBlock(int l, LlamaWeights.Layer like) {
        String name = "block-" + l + ".safetensors";
        try (SafetensorsFile f = run.readTensors(name)) {
            Tensor[] shapes = tensors(like), t = new Tensor[TENSORS.size()];
            for (int i = 0; i < t.length; i++) {
                String key = TENSORS.get(i), packing = f.metadata().get(key + ".packing");
                if (packing != null) {
                    String[] p = packing.split(" ");
                    t[i] = PackedCheckpoint.readPacked(f, key, new PackedCheckpoint.Packing(Integer.parseInt(p[0]), Integer.parseInt(p[1]), Boolean.parseBoolean(p[2])),
                            shapes[i].size(0), shapes[i].size(1));
                    continue;
                }
                if (i >= 9 && !f.contains(key)) continue; // a bias or q/k norm the architecture does not have
                Tensor m = f.tensor(key);
                t[i] = Tensor.wrap(m.toFloatArray(), m.shape());
            }
            return new LlamaWeights.Layer(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11], t[12], t[13]);
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException(owner + ": cannot read the saved block " + l + " from " + run.file(name) + ": " + e.getMessage()
                    + "; delete " + run.dir() + " to start again", e);
        }
    }

    private static Tensor[] tensors(LlamaWeights.Layer b) {
        return new Tensor[]{b.attnNorm(), b.wq(), b.wk(), b.wv(), b.wo(), b.ffnNorm(), b.wGate(), b.wUp(), b.wDown(), b.bq(), b.bk(), b.bv(), b.qNorm(), b.kNorm()};
    }
}
