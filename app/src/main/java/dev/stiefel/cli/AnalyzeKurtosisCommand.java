package dev.stiefel.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.io.LoadedModel;
import dev.stiefel.llama.io.ModelFiles;
import dev.stiefel.quant.Linears;
import dev.stiefel.quant.adaptive.OutlierGuided;
import dev.stiefel.quant.adaptive.TransformKind;
import dev.stiefel.quant.analysis.KurtosisFigure;
import dev.stiefel.quant.plot.Png;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * Prints each decoder block's weight kurtosis, its robust z-score across blocks and the transform kind the outlier-guided
 * rule gives it ({@link OutlierGuided}), and plots them (kurtosis.png) with a JSON copy of the numbers (kurtosis.json).
 */
@Command(name = "kurtosis", mixinStandardHelpOptions = true,
        description = "Per-block weight kurtosis, robust z-scores and the transform kind outlier-guided selection chooses; writes kurtosis.png and kurtosis.json.")
final class AnalyzeKurtosisCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "PATH",
            description = "Hugging Face checkpoint directory, .gguf file or llama2.c .bin (default: the embedded story model)") Path model;
    @Option(names = "--threshold", paramLabel = "Z", defaultValue = "" + OutlierGuided.DEFAULT_THRESHOLD,
            description = "blocks with robust z above this get the --high kind (default: ${DEFAULT-VALUE}, Iglewicz and Hoaglin's cut-off)") double threshold;
    @Option(names = "--high", paramLabel = "KIND", defaultValue = "rotation", description = "kind for blocks above the threshold (default: ${DEFAULT-VALUE})") String high;
    @Option(names = "--low", paramLabel = "KIND", defaultValue = "affine", description = "kind for the other blocks (default: ${DEFAULT-VALUE})") String low;
    @Option(names = "--pooling", paramLabel = "HOW", defaultValue = "raw",
            description = "raw: a block's weights pooled as stored; standardized: each matrix scaled to unit variance first (default: ${DEFAULT-VALUE})") String pooling;
    @Option(names = "--out", paramLabel = "DIR", defaultValue = "analysis", description = "folder for kurtosis.png and kurtosis.json (default: ${DEFAULT-VALUE})") Path out;

    @Override public Integer call() throws Exception {
        if (!Double.isFinite(threshold)) throw new IllegalArgumentException("--threshold must be a finite number, got " + threshold);
        TransformKind hi = TransformKind.parse(high), lo = TransformKind.parse(low);
        OutlierGuided.Pooling pool = OutlierGuided.Pooling.parse(pooling);
        Path path = model != null ? model : EmbeddedModel.directory();
        String name = model != null ? model.toString() : "embedded story model";
        try (LoadedModel m = ModelFiles.load(path)) {
            OutlierGuided.Analysis a = OutlierGuided.analyze(m.weights(), pool);
            List<TransformKind> kinds = a.kinds(threshold, hi, lo);

            System.out.printf("%-6s %9s %8s  %-9s", "block", "kurtosis", "z", "kind");
            for (Linear l : Linears.BLOCK) System.out.printf(" %7s", l.name().toLowerCase(Locale.ROOT));
            System.out.println();
            for (OutlierGuided.BlockStats b : a.blocks()) {
                System.out.printf(Locale.ROOT, "%-6d %9.4f %8.3f  %-9s", b.block(), b.kurtosis(), b.z(), kinds.get(b.block()).name().toLowerCase(Locale.ROOT));
                for (Linear l : Linears.BLOCK) System.out.printf(Locale.ROOT, " %7.3f", b.perLinear().get(l));
                System.out.println();
            }
            long highCount = kinds.stream().filter(k -> k == hi).count();
            System.out.printf(Locale.ROOT, "%s pooling: median kurtosis %.4f, MAD %.4g (z scaled by %s); z > %s -> %s, else %s: %d of %d blocks get %s%n",
                    pool.name().toLowerCase(Locale.ROOT), a.median(), a.mad(), a.scale().name().toLowerCase(Locale.ROOT).replace('_', ' '), threshold,
                    hi.name().toLowerCase(Locale.ROOT), lo.name().toLowerCase(Locale.ROOT), highCount, kinds.size(), hi.name().toLowerCase(Locale.ROOT));

            Png.write(out.resolve("kurtosis.png"), KurtosisFigure.render(a, threshold, kinds, name));
            System.err.println("wrote " + out.resolve("kurtosis.png"));
            ObjectNode json = EvalCommand.JSON.createObjectNode();
            json.put("model", name).put("pooling", pool.name()).put("threshold", threshold).put("high", hi.name()).put("low", lo.name())
                    .put("median", a.median()).put("mad", a.mad()).put("scale", a.scale().name());
            ArrayNode rows = json.putArray("blocks");
            for (OutlierGuided.BlockStats b : a.blocks()) {
                ObjectNode r = rows.addObject().put("block", b.block()).put("kurtosis", b.kurtosis()).put("z", b.z())
                        .put("weights", b.weights()).put("kind", kinds.get(b.block()).name());
                ObjectNode per = r.putObject("per_linear");
                for (Linear l : Linears.BLOCK) per.put(l.name().toLowerCase(Locale.ROOT), b.perLinear().get(l));
            }
            EvalCommand.writeJson(out.resolve("kurtosis.json"), json);
        }
        return 0;
    }
}
