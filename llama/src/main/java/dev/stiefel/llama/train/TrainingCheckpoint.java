package dev.stiefel.llama.train;

import dev.stiefel.llama.io.SafetensorsFile;
import dev.stiefel.llama.io.SafetensorsWriter;
import dev.stiefel.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A resumable training state in one safetensors file, written atomically (temp file, then rename): every weight
 * ({@code weight.<hf name>}), every optimizer array ({@code optimizer.<i>}) and the step in the metadata. Resuming
 * copies them back into a trainer built with the same config and settings; the batches after the step are the same
 * as in an uninterrupted run (see {@link Trainer#batchOffsets}).
 */
public final class TrainingCheckpoint {
    private final Path dir;

    public TrainingCheckpoint(Path dir) { this.dir = dir; }

    public Path file() { return Trainer.checkpointFile(dir); }

    public boolean exists() { return Files.isRegularFile(file()); }

    public void save(Trainer t) throws IOException {
        Files.createDirectories(dir);
        SafetensorsWriter w = new SafetensorsWriter().metadata("step", Integer.toString(t.step()))
                .metadata("settings", t.settings().toString());
        List<Tensor> tensors = t.weights().tensors();
        List<String> names = t.weights().hfNames();
        for (int i = 0; i < tensors.size(); i++) w.add("weight." + names.get(i), tensors.get(i));
        List<float[]> state = t.optimizerState();
        for (int i = 0; i < state.size(); i++) w.add("optimizer." + i, Tensor.wrap(state.get(i), state.get(i).length));
        w.write(file());
    }

    /** Restores weights, optimizer state and step into {@code t}; returns the step. */
    public int restore(Trainer t) throws IOException {
        try (SafetensorsFile f = SafetensorsFile.open(file())) {
            String step = f.metadata().get("step");
            if (step == null) throw new IOException(file() + ": no \"step\" in the metadata; not a training checkpoint");
            List<Tensor> tensors = t.weights().tensors();
            List<String> names = t.weights().hfNames();
            for (int i = 0; i < tensors.size(); i++) tensors.get(i).copyFrom(f.tensor("weight." + names.get(i)));
            List<float[]> state = t.optimizerState();
            for (int i = 0; i < state.size(); i++) {
                Tensor saved = f.tensor("optimizer." + i);
                if (saved.numel() != state.get(i).length)
                    throw new IOException(file() + ": optimizer." + i + " has " + saved.numel() + " values, the trainer needs " + state.get(i).length);
                float[] src = saved.contiguous().toFloatArray();
                System.arraycopy(src, 0, state.get(i), 0, src.length);
            }
            int k = Integer.parseInt(step);
            t.resumeAt(k);
            return k;
        }
    }

}
