package dev.stiefel.quant.method;

import dev.stiefel.quant.pipeline.RunDirectory;
import dev.stiefel.autograd.Optimizer;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.io.SafetensorsFile;
import dev.stiefel.llama.io.SafetensorsWriter;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.calib.Fingerprints;
import dev.stiefel.riemann.OptimizerGroup;
import dev.stiefel.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The checkpoint of one OSTQuant/SpinQuant learning run, which makes it resumable: {@code learning.safetensors} holds
 * the learned parameters ({@code param.i}: R, the R_h, then the log-scales), every optimizer's state arrays
 * ({@code optimizer.g.i}: Riemannian Adam's moments, Cayley SGD's velocity, AdamW's moments) and, in the metadata, the
 * step, the running loss sums and a fingerprint of everything the result depends on (model, calibration windows,
 * quantization config, learning options, the starting transforms). The file is written whole under a temporary name
 * and renamed in a {@link RunDirectory}, so a run killed at any moment leaves the previous checkpoint or the new one.
 *
 * <p>A run lives in {@code <work dir>/<label>-<hash of the fingerprint>/}, so one work directory holds the runs of
 * several methods and settings; a checkpoint whose metadata records another fingerprint is refused. Everything a step
 * depends on is restored exactly (f32 values, optimizer step counts, the batch order is replayed from the seed), and
 * the CPU kernels are bit-reproducible, so a resumed run ends with the same bits as an uninterrupted one.
 */
final class LearningState {
    static final String FILE = "learning.safetensors";

    private final RunDirectory run;

    private LearningState(RunDirectory run) { this.run = run; }

    /** What a checkpoint restores besides the parameters and optimizer state. */
    record Saved(int step, double lossBefore, double epochSum, double firstEpoch, double lastEpoch) {}

    static LearningState open(Path root, String label, String fingerprint) {
        return new LearningState(RunDirectory.open(root, label, fingerprint, "OSTQuant"));
    }

    Path file() { return run.file(FILE); }

    boolean exists() { return run.exists(FILE); }

    /** Writes the parameters, the optimizers' state and the counters after {@code step} steps. */
    void save(List<Var> params, OptimizerGroup group, Saved s) {
        SafetensorsWriter w = new SafetensorsWriter().metadata("step", Integer.toString(s.step()))
                .metadata("loss_before", Double.toString(s.lossBefore())).metadata("epoch_sum", Double.toString(s.epochSum()))
                .metadata("first_epoch", Double.toString(s.firstEpoch())).metadata("last_epoch", Double.toString(s.lastEpoch()));
        for (int i = 0; i < params.size(); i++) w.add("param." + i, params.get(i).value().toHost().contiguous()); // (a device-resident parameter comes over)
        List<Optimizer> opts = group.optimizers();
        for (int g = 0; g < opts.size(); g++) {
            List<float[]> state = opts.get(g).state();
            for (int i = 0; i < state.size(); i++) w.add("optimizer." + g + "." + i, Tensor.wrap(state.get(i), state.get(i).length));
        }
        run.writeTensors(FILE, w);
    }

    /** Copies the saved parameters and optimizer state back and sets every optimizer's step; refuses another run's file. */
    Saved restore(List<Var> params, OptimizerGroup group) {
        Path f = file();
        try (SafetensorsFile sf = run.readTensors(FILE)) {
            var meta = sf.metadata();
            int step = Integer.parseInt(meta.get("step"));
            for (int i = 0; i < params.size(); i++) copy(sf, "param." + i, params.get(i).value(), f);
            List<Optimizer> opts = group.optimizers();
            for (int g = 0; g < opts.size(); g++) {
                List<float[]> state = opts.get(g).state();
                for (int i = 0; i < state.size(); i++) {
                    String name = "optimizer." + g + "." + i;
                    float[] saved = sf.tensor(name).contiguous().toFloatArray();
                    if (saved.length != state.get(i).length)
                        throw new IllegalStateException("OSTQuant: " + f + ": " + name + " has " + saved.length + " values, the optimizer needs " + state.get(i).length);
                    System.arraycopy(saved, 0, state.get(i), 0, saved.length);
                }
                opts.get(g).resumeAt(step);
            }
            return new Saved(step, Double.parseDouble(meta.get("loss_before")), Double.parseDouble(meta.get("epoch_sum")),
                    Double.parseDouble(meta.get("first_epoch")), Double.parseDouble(meta.get("last_epoch")));
        } catch (IOException e) {
            throw new UncheckedIOException("OSTQuant: cannot read the learning checkpoint " + f + "; delete it to start again", e);
        }
    }

    private static void copy(SafetensorsFile sf, String name, Tensor into, Path f) throws IOException {
        Tensor saved = sf.tensor(name);
        if (saved.numel() != into.numel())
            throw new IllegalStateException("OSTQuant: " + f + ": " + name + " has " + saved.numel() + " values, the parameter has " + into.numel());
        into.copyFrom(Tensor.wrap(saved.contiguous().toFloatArray(), into.shape()));
    }

    /**
     * What the learned transforms depend on: the model (its config and a checksum of every weight), the calibration
     * windows (every token), the quantization config, the learning options and the starting parameters.
     */
    static String fingerprint(String label, LlamaWeights fp, CalibrationData calibration, QuantConfig config, OstQuant.Options o, List<Var> start) {
        return String.format(Locale.ROOT, "ostquant-learning-2 %s | %s | %s | calibration %s seed %d n=%d T=%d crc %08x | model %s crc %08x | start crc %08x",
                label, config, o.learningFingerprint(), calibration.source(), calibration.seed(), calibration.size(), calibration.seqLen(),
                Fingerprints.tokens(calibration), fp.config(), Fingerprints.model(fp), Fingerprints.tensors(start.stream().map(Var::value).toList()));
    }
}
