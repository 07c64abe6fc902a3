package dev.stiefel.quant.transform;

import dev.stiefel.autograd.Grad;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.MappedPages;
import dev.stiefel.llama.Progress;
import dev.stiefel.tensor.MappedFile;
import dev.stiefel.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Runs a pipeline of transforms and measures how far the result is from the model it came from. */
public final class Transforms {
    private Transforms() {}

    /**
     * A model with transforms fused: the exact f64 weights, their f32 rounding, and the online parts in pipeline order.
     *
     * @param exact   the fused weights in f64 (for exact checks); null when the model was fused block by block
     *                ({@link #fuseBlockwise})
     * @param weights the same rounded to f32, what the forward pass uses
     * @param online  every online part, in the order the transforms were given
     * @param steps   each transform's one-line description
     */
    public record Fused(DoubleWeights exact, LlamaWeights weights, List<Online> online, List<String> steps) {
        public Fused {
            online = List.copyOf(online);
            steps = List.copyOf(steps);
        }

        /** The online parts as hooks (identity hooks when there are none). */
        public Hooks hooks() { return OnlineHooks.of(online); }

        /** The fused model, full precision. */
        public LlamaModel model() { return new LlamaModel(weights, hooks()); }
    }

    /** Folds {@code transforms} in order into an f64 copy of {@code fp} ({@code fp} is not changed). */
    public static Fused fuse(LlamaWeights fp, List<? extends Transform> transforms) {
        return fuse(DoubleWeights.of(fp), transforms);
    }

    /**
     * {@link #fuse}, or {@link #fuseBlockwise} (with {@code progress}) when an f64 copy of the whole model would take more than half the largest heap (or
     * than the bytes the {@link dev.stiefel.quant.MemoryPolicy} in force gives): a LLaMA-2-7B's is 54 GB.
     */
    public static Fused fuseWithin(LlamaWeights fp, List<? extends Transform> transforms, Progress progress) {
        LlamaConfig c = fp.config();
        long f64 = 8L * fp.tensors().stream().mapToLong(Tensor::numel).sum();
        long limit = dev.stiefel.quant.MemoryPolicy.current().fuseBlockwiseAboveOr(Runtime.getRuntime().maxMemory() / 2);
        if (f64 <= limit) {
            Fused fused = fuse(fp, transforms);
            progress.step(c.layers());
            return fused;
        }
        Path dir = Path.of(System.getProperty("java.io.tmpdir"));
        System.err.printf(java.util.Locale.ROOT, "transforms: an f64 copy of the model would take %.1f GB; folding one block at a time, "
                + "the folded f32 matrices (%.1f GB) in unlinked scratch files under %s (-Djava.io.tmpdir=DIR moves them)%n", f64 / 1e9, f64 / 2e9, dir);
        return fuseBlockwise(fp, transforms, dir, progress);
    }

    /**
     * {@link #fuse} for a model whose f64 copy does not fit: each block is copied to f64 alone ({@link
     * DoubleWeights#ofLayer}), every transform folded into it in order, rounded to f32 once and moved to a scratch file
     * in {@code dir} ({@link MappedFile#spill}: mapped back, the file unlinked at once); then the embedding, final norm and
     * head the same way. Every transform acts on each block on its own, so the weights equal {@link #fuse}'s bit for bit
     * (checked for every transform test by {@code EquivalenceCheck}); there is no f64 model ({@link Fused#exact} is null). At most one block is in f64 at a
     * time, and the source block's mapped pages are released after it ({@link MappedPages}). {@code progress} steps once
     * per block (a 7B block takes seconds).
     */
    public static Fused fuseBlockwise(LlamaWeights fp, List<? extends Transform> transforms, Path dir, Progress progress) {
        List<Online> online = new ArrayList<>();
        List<String> steps = new ArrayList<>();
        for (Transform t : transforms) {
            online.addAll(t.online());
            steps.add(t.describe());
        }
        LlamaConfig c = fp.config();
        try {
            List<LlamaWeights.Layer> layers = new ArrayList<>();
            for (int l = 0; l < c.layers(); l++) {
                DoubleWeights block = DoubleWeights.ofLayer(fp, l);
                for (Transform t : transforms) t.fold(block);
                LlamaWeights.Layer f = block.toLayer(l);
                List<Tensor> m = MappedFile.spill(dir, List.of(f.wq(), f.wk(), f.wv(), f.wo(), f.wGate(), f.wUp(), f.wDown()));
                layers.add(f.withMatrices(f.attnNorm(), m.get(0), m.get(1), m.get(2), m.get(3), f.ffnNorm(), m.get(4), m.get(5), m.get(6)));
                MappedPages.doneWith(fp.layer(l));
                progress.step(1);
            }
            DoubleWeights ends = DoubleWeights.ofEnds(fp);
            for (Transform t : transforms) t.fold(ends);
            boolean tied = ends.tied();
            List<Tensor> m = MappedFile.spill(dir, tied ? List.of(DoubleWeights.tensor(ends.embedding()))
                    : List.of(DoubleWeights.tensor(ends.embedding()), DoubleWeights.tensor(ends.head())));
            LlamaConfig fc = c.tiedEmbeddings() == tied ? c : c.withTiedEmbeddings(tied);
            Tensor finalNorm = DoubleWeights.tensor(ends.norm(0, dev.stiefel.llama.Hooks.Input.HEAD_IN));
            return new Fused(null, new LlamaWeights(fc, m.get(0), layers, finalNorm, tied ? null : m.get(1), List.of()), online, steps);
        } catch (IOException e) {
            throw new UncheckedIOException("transforms: cannot write the folded blocks to " + dir + " (they take 4 bytes per weight; "
                    + "-Djava.io.tmpdir=DIR puts them elsewhere): " + e.getMessage(), e);
        }
    }

    /** Folds {@code transforms} in order into {@code w} itself. */
    public static Fused fuse(DoubleWeights w, List<? extends Transform> transforms) {
        List<Online> online = new ArrayList<>();
        List<String> steps = new ArrayList<>();
        for (Transform t : transforms) {
            t.fold(w);
            online.addAll(t.online());
            steps.add(t.describe());
        }
        return new Fused(w, w.toWeights(), online, steps);
    }

    /**
     * How far two models' logits are apart: max |y_fused − y_ref| over every position and vocabulary entry, and
     * max |y_ref| to put it in scale.
     */
    public record Difference(double maxAbs, double maxReference) {
        /** maxAbs / maxReference. */
        public double relative() { return maxReference == 0 ? (maxAbs == 0 ? 0 : Double.POSITIVE_INFINITY) : maxAbs / maxReference; }

        @Override public String toString() { return String.format(java.util.Locale.ROOT, "max |Δlogit| %.3g (relative %.3g)", maxAbs, relative()); }
    }

    /** Runs both models on each id sequence ([B, T]) without a tape and compares their logits. */
    public static Difference compare(LlamaModel reference, LlamaModel fused, List<Tensor> ids) {
        double maxAbs = 0, maxRef = 0;
        try (var _ = Grad.off()) {
            for (Tensor t : ids) {
                Tensor a = reference.forward(t, null).value(), b = fused.forward(t, null).value();
                maxAbs = Math.max(maxAbs, a.maxAbsDiff(b));
                for (float v : a.toFloatArray()) maxRef = Math.max(maxRef, Math.abs(v));
            }
        }
        return new Difference(maxAbs, maxRef);
    }
}
