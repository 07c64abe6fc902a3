package dev.stiefel.quant.pipeline;

import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.Progress;
import dev.stiefel.quant.MemoryPolicy;
import dev.stiefel.llama.MappedPages;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.calib.Capture;
import dev.stiefel.quant.calib.ChannelMaxima;
import dev.stiefel.quant.transform.Online;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backend;
import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.cpu.CpuBackend;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * The one block-by-block loop every block-wise method runs on (GPTQ's {@code llama_sequential}, AWQ's
 * {@code run_awq}, OmniQuant's {@code omniquant.py}, FlatQuant's {@code cali_flat_quant}):
 * <ol>
 *   <li>the calibration samples' embeddings are block 0's inputs;</li>
 *   <li>the full-precision block l, run on the full-precision chain's inputs, gives the targets (and the next block's
 *       full-precision inputs), recording the channel maxima of its linear inputs on the way; only when a step needs
 *       them or trains on full-precision inputs;</li>
 *   <li>a {@link Step} processes block l on the inputs the {@link Inputs} strategy names and returns its final weights
 *       and what stays online;</li>
 *   <li>with {@link Inputs#QUANTIZED}, the processed block turns the quantized chain's inputs into the next block's;</li>
 *   <li>with a work directory, the block is committed (weights, report, next inputs, atomically) so an interrupted run
 *       resumes after it.</li>
 * </ol>
 * Activations live in memory, or in the work directory's files read one sample at a time.
 */
public final class BlockDriver {

    /** Which calibration inputs block l sees. */
    public enum Inputs {
        /** The full-precision model's outputs of blocks 0..l−1 (AWQ, FlatQuant's {@code fp_inps}). */
        FULL_PRECISION,
        /** The outputs of blocks 0..l−1 as they were processed (GPTQ's quantized blocks, OmniQuant's folded ones). */
        QUANTIZED
    }

    /** Called as the run advances; tests throw from it to interrupt a run at a chosen point. */
    public interface Listener {
        default void step(int layer, int epoch, int sample) {}

        default void blockSaved(int layer) {}
    }

    /** A work directory for resuming, or none. */
    public record Resume(Path root, String label, String fingerprint) {}

    /**
     * What a step is given for block {@code layer}: the inputs the strategy names, the full-precision outputs on the
     * full-precision inputs ({@code targets}, with the channel {@code maxima} of its linear inputs), and the
     * full-precision block on the quantized inputs ({@code augmented}, OmniQuant's aug_loss); each null when not asked for.
     * {@code scratch} gives writers for what the step keeps between its passes, where the driver keeps activations;
     * {@code outputs} is where a step that computes the next block's inputs itself writes them (null when nothing needs
     * them: the last block, or inputs that are not the quantized chain's). {@code position} is what a step's progress bar
     * shows after its label: "6/32", and from the second block a run does on, the time the run's remaining blocks will
     * take at the pace of those it did ("6/32, run ETA 7:13:20"), since a 7B model's run takes hours.
     */
    public record Block(int layer, Activations inputs, Activations targets, ChannelMaxima maxima, Activations augmented,
                        Function<String, Activations.Writer> scratch, Activations.Writer outputs, String position) {
        /** The inputs as a list (read one sample at a time when they are in a file). */
        public List<Tensor> inputList() { return new java.util.AbstractList<>() {
            @Override public Tensor get(int i) { return inputs.get(i); }

            @Override public int size() { return inputs.size(); }
        }; }

        /** A writer for activations the step keeps for a while ({@code kind} names them); discard them when done. */
        public Activations.Writer scratch(String kind) { return scratch.apply(kind); }
    }

    /**
     * A block's outcome: its weights as the next blocks and the result use them (null: unchanged, for a step that
     * writes its weights elsewhere), the parts of it that run online, what the report shows for it (may be null), and
     * the next block's inputs when the step wrote them to {@link Block#outputs} (else null: the driver runs the block).
     */
    public record Done(LlamaWeights.Layer layer, List<Online> online, Report.BlockFigures report, Activations outputs) {
        public Done {
            online = List.copyOf(online);
        }

        public Done(LlamaWeights.Layer layer, List<Online> online, Report.BlockFigures report) { this(layer, online, report, null); }
    }

    /** Processes one block. */
    @FunctionalInterface
    public interface Step {
        Done process(Block block);
    }

    /**
     * The processed blocks: every layer's weights, the online parts in layer order, the per-block reports, and the work
     * directory's path and resume point when there was one.
     */
    public record Result(List<LlamaWeights.Layer> layers, List<Online> online, List<Report.BlockFigures> blocks, Path workDir, int resumedAfter) {
        /** Where the run kept its work and after how many blocks it resumed, for the report; null without a work directory. */
        public Report.Resumed resumed() { return workDir == null ? null : new Report.Resumed(workDir.toString(), resumedAfter); }
    }

    private final String name;
    private final Inputs inputs;
    private final boolean targets, augmented;
    private final Resume resume;
    private final Listener listener;
    private final long scratchFloatsPerToken;

    /**
     * @param name      the method's name, for messages
     * @param inputs    which chain's outputs feed each block
     * @param targets   the step needs the full-precision outputs and channel maxima of each block
     * @param augmented the step also needs the full-precision block run on the quantized inputs
     * @param resume    a work directory to commit blocks to and resume from, or null (all in memory)
     */
    public BlockDriver(String name, Inputs inputs, boolean targets, boolean augmented, Resume resume, Listener listener) {
        this(name, inputs, targets, augmented, resume, listener, 0);
    }

    private BlockDriver(String name, Inputs inputs, boolean targets, boolean augmented, Resume resume, Listener listener, long scratchFloatsPerToken) {
        if (augmented && inputs != Inputs.QUANTIZED) throw new IllegalArgumentException(name + ": the augmented targets need quantized inputs");
        this.name = name;
        this.inputs = inputs;
        this.targets = targets;
        this.augmented = augmented;
        this.resume = resume;
        this.listener = listener == null ? new Listener() {} : listener;
        this.scratchFloatsPerToken = scratchFloatsPerToken;
    }

    /**
     * This driver for a step that keeps up to {@code floatsPerToken} floats per calibration token in {@link Block#scratch}
     * at once: they count when deciding whether the activations go to files.
     */
    public BlockDriver withScratch(long floatsPerToken) {
        return new BlockDriver(name, inputs, targets, augmented, resume, listener, floatsPerToken);
    }

    public Listener listener() { return listener; }

    /**
     * Processes every block of {@code fp}. {@code inference} gives the hooks a processed model runs with, from the
     * online parts of the blocks done so far (what the quantized chain runs through).
     */
    public Result run(LlamaWeights fp, CalibrationData calibration, Step step, Function<List<Online>, Hooks> inference) {
        boolean quantized = inputs == Inputs.QUANTIZED, fullPrecision = !quantized || targets;
        List<LlamaWeights.Layer> done = new ArrayList<>(fp.layers());
        List<Online> online = new ArrayList<>();
        WorkDir wd = resume == null ? null : WorkDir.open(resume.root(), resume.label(), resume.fingerprint(), name);
        int start = wd == null ? 0 : wd.finished();
        if (wd != null) { // a killed run's leftovers go, all but the inputs this run starts from
            java.util.Set<String> keep = new java.util.HashSet<>();
            if (fullPrecision) keep.add(WorkDir.activationsName("fp", start));
            if (quantized) keep.add(WorkDir.activationsName("quant", start));
            wd.deleteActivationsExcept(keep);
        }
        for (int l = 0; l < start; l++) done.set(l, wd.loadBlock(l, done.get(l)));
        List<Report.BlockFigures> blocks = new ArrayList<>();
        if (wd != null) blocks.addAll(wd.blockFigures());

        // where the activations live: the work directory, a scratch directory when they would crowd the heap, or memory
        long held = activationBytes(fp, calibration, fullPrecision, quantized);
        Path cache = wd != null ? wd.dir() : spillDirectory(held);
        try {
            if (cache != null) requireSpace(cache, held);
            return run(fp, calibration, step, inference, wd, cache, start, done, online, blocks);
        } finally {
            if (wd == null && cache != null) deleteScratch(cache);
        }
    }

    private Result run(LlamaWeights fp, CalibrationData calibration, Step step, Function<List<Online>, Hooks> inference, WorkDir wd, Path cache,
                       int start, List<LlamaWeights.Layer> done, List<Online> online, List<Report.BlockFigures> blocks) {
        int layers = fp.config().layers();
        boolean quantized = inputs == Inputs.QUANTIZED, fullPrecision = !quantized || targets;
        Activations fpIn = null, qIn = null;
        if (start == 0) {
            Activations[] emb = embed(cache, fp, calibration, fullPrecision, quantized);
            fpIn = emb[0];
            qIn = emb[1];
        } else if (start < layers) {
            fpIn = fullPrecision ? wd.openActivations("fp", start) : null;
            qIn = quantized ? wd.openActivations("quant", start) : null;
        }
        long runStart = System.nanoTime();
        for (int l = start; l < layers; l++) {
            long t0 = System.nanoTime();
            double perBlock = l == start ? Double.NaN : (t0 - runStart) * 1e-9 / (l - start);
            String position = (l + 1) + "/" + layers + (l == start ? "" : ", run ETA " + Progress.clock(perBlock * (layers - l)));
            boolean last = l == layers - 1;
            // full-precision outputs on full-precision inputs: the targets and the next block's full-precision inputs
            ChannelMaxima maxima = null;
            Activations target = null;
            if (fullPrecision) {
                maxima = new ChannelMaxima(l);
                target = runBlock(new LlamaModel(onBackend(fp, l), maxima), l, fpIn, writer(cache, "fp", l + 1, quantized ? fpIn : null));
            }
            Activations aug = augmented ? runBlock(new LlamaModel(onBackend(fp, l)), l, qIn, writer(cache, "aug", l, null)) : null;

            int layerIndex = l;
            Activations.Writer outputs = last || !quantized ? null : writer(cache, "quant", l + 1, qIn);
            Done d = step.process(new Block(l, quantized ? qIn : fpIn, targets ? target : null, targets ? maxima : null, aug,
                    kind -> writer(cache, kind, layerIndex, null), outputs, position));
            MappedPages.doneWith(fp.layer(l));
            LlamaWeights.Layer layer = d.layer() == null ? done.get(l) : d.layer();
            done.set(l, layer);
            online.addAll(d.online());
            // the processed block on the quantized inputs: the next block's quantized inputs (unless the step wrote them)
            Activations qOut = outputs == null ? null : d.outputs() != null ? d.outputs()
                    : runBlock(new LlamaModel(onBackend(withLayers(fp, done), l), inference.apply(online)), l, qIn, outputs);
            double seconds = Steps.round((System.nanoTime() - t0) * 1e-9);
            Report.BlockFigures blockReport = d.report() == null ? Report.BlockFigures.timed(seconds) : d.report().withSeconds(seconds);
            blocks.add(blockReport);
            if (wd != null) wd.commit(l, layer, blockReport);
            if (cache != null) { // after the commit: a resumed run starts from the next block's files
                for (Activations a : new Activations[]{fpIn, qIn, aug}) discard(a);
                if (last) discard(target);
            }
            listener.blockSaved(l);
            fpIn = target;
            qIn = qOut;
        }
        return new Result(done, online, blocks, wd == null ? null : wd.dir(), start);
    }

    // ------------------------------------------------------------ activations

    /**
     * w with block l's weights where the current backend computes: a device backend receives them once for a whole pass
     * over the samples (or a block's training) instead of with every sample; the CPU gets w itself.
     */
    static LlamaWeights onBackend(LlamaWeights w, int l) {
        Backend b = Backends.current();
        return b.name().equals(CpuBackend.NAME) ? w : w.mapLayer(l, b::resident);
    }

    private static Activations runBlock(LlamaModel model, int l, Activations in, Activations.Writer out) {
        try (var off = Grad.off()) {
            for (int i = 0; i < in.size(); i++) out.put(model.block(l, Var.of(in.get(i)), 0, null).value());
        }
        return out.finish();
    }

    /** Where a block's outputs go: a file in the work directory, or in memory (over the inputs they replace, if given). */
    private static Activations.Writer writer(Path cache, String kind, int index, Activations replacing) {
        if (cache != null) return Activations.file(cache.resolve(WorkDir.activationsName(kind, index)));
        return replacing instanceof Activations.Memory m ? m.overwrite() : Activations.memory();
    }

    /** Block 0's inputs for the chains asked for: the samples' embeddings, in memory or streamed to files. */
    private static Activations[] embed(Path cache, LlamaWeights fp, CalibrationData calibration, boolean fullPrecision, boolean quantized) {
        LlamaModel model = new LlamaModel(fp);
        if (cache == null) {
            List<Tensor> emb = Capture.embed(model, calibration);
            return new Activations[]{fullPrecision ? Activations.Memory.of(emb) : null, quantized ? Activations.Memory.of(emb) : null};
        }
        Activations.Writer f = fullPrecision ? writer(cache, "fp", 0, null) : null;
        Activations.Writer q = quantized ? writer(cache, "quant", 0, null) : null;
        try (var off = Grad.off()) {
            for (int i = 0; i < calibration.size(); i++) {
                Tensor e = model.embed(calibration.ids(i)).value();
                if (f != null) f.put(e);
                if (q != null) q.put(e);
            }
        }
        return new Activations[]{f == null ? null : f.finish(), q == null ? null : q.finish()};
    }

    private static void discard(Activations a) {
        if (a != null) a.discard();
    }

    /** The bytes of calibration activations a run holds at once: each chain's inputs and outputs, and the step's scratch. */
    private long activationBytes(LlamaWeights fp, CalibrationData calibration, boolean fullPrecision, boolean quantized) {
        long tokens = (long) calibration.size() * calibration.seqLen(), copy = tokens * fp.config().dim() * Float.BYTES;
        return copy * ((fullPrecision ? 2 : 0) + (quantized ? 2 : 0) + (augmented ? 1 : 0)) + tokens * scratchFloatsPerToken * Float.BYTES;
    }

    /**
     * A scratch directory for the calibration activations when the copies a run holds at once ({@code held} bytes,
     * {@code samples × tokens × dim} f32 each) would take more than a third of the largest heap, or than the bytes the
     * {@link MemoryPolicy} in force gives; else null (memory). A 7B model's 128 × 2048 calibration tokens are 4.3 GB per
     * copy. The files are read a sample at a time, through the page cache.
     */
    private Path spillDirectory(long held) {
        long limit = MemoryPolicy.current().spillActivationsAboveOr(Runtime.getRuntime().maxMemory() / 3);
        if (held <= limit) return null;
        try {
            Path dir = Files.createTempDirectory("stiefel-" + name + "-activations");
            System.err.printf(java.util.Locale.ROOT, "%s: calibration activations (%.2f GB at once) go to %s, read a sample at a time%n", name, held / 1e9, dir);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(name + ": cannot create a scratch directory for the calibration activations", e);
        }
    }

    /**
     * Refuses, before any work, a directory whose file system has less room than the activations a run writes there at
     * once, less those already there (a resumed run's inputs): a 7B model's GPTQ holds ~29 GB, and running out of disk
     * hours in would lose the block under way.
     */
    private void requireSpace(Path dir, long held) {
        long free, present = 0;
        try (var files = Files.list(dir)) {
            free = Files.getFileStore(dir).getUsableSpace();
            for (Path f : files.toList()) if (f.getFileName().toString().endsWith(".act")) present += Files.size(f);
        } catch (IOException e) {
            return; // the store cannot say; the writes will
        }
        String shortage = spaceShortage(name, dir, held, present, free);
        if (shortage != null) throw new IllegalStateException(shortage);
    }

    /** What {@link #requireSpace} says when {@code free} bytes cannot hold {@code held} less the {@code present} ones; null when they can. */
    static String spaceShortage(String name, Path dir, long held, long present, long free) {
        if (free >= held - present) return null;
        return String.format(java.util.Locale.ROOT, "%s: the calibration activations take %.2f GB at once in %s%s, which has %.2f GB free; free "
                + "some space, point the work directory (or -Djava.io.tmpdir) elsewhere, or calibrate on fewer or shorter samples", name, held / 1e9, dir,
                present > 0 ? String.format(java.util.Locale.ROOT, " (%.2f GB of them there already)", present / 1e9) : "", free / 1e9);
    }

    private static void deleteScratch(Path dir) {
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) Files.deleteIfExists(f);
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete the scratch directory " + dir, e);
        }
    }

    /** {@code w} with its blocks replaced by {@code layers} (norms included). */
    public static LlamaWeights withLayers(LlamaWeights w, List<LlamaWeights.Layer> layers) {
        return new LlamaWeights(w.config(), w.embedding(), layers, w.finalNorm(), w.config().tiedEmbeddings() ? null : w.output(), List.of());
    }

    @Override public String toString() { return "BlockDriver[" + name + ", " + inputs + "]"; }
}
