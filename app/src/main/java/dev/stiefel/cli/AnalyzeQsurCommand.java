package dev.stiefel.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.eval.EvalDataset;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.analysis.QsurAnalysis;
import dev.stiefel.quant.analysis.QsurAnalysis.Case;
import dev.stiefel.quant.analysis.QsurAnalysis.Site;
import dev.stiefel.quant.analysis.QsurFigures;
import dev.stiefel.quant.analysis.QsurIllustration;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.method.OstQuant;
import dev.stiefel.quant.plot.Png;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * QSUR of every linear input and of K/V on calibration data, before any transform, after smoothing only, after rotation
 * only and after a short OSTQuant run ({@link QsurAnalysis}); prints the table and writes qsur.png (per layer),
 * qsur-2d.png (the two-dimensional illustration, {@link QsurIllustration}) and qsur.json.
 */
@Command(name = "qsur", mixinStandardHelpOptions = true,
        description = "QSUR (OSTQuant's quantization space utilisation rate) per linear input and K/V: none, smoothing only, rotation only, OSTQuant; writes qsur.png, qsur-2d.png and qsur.json.")
final class AnalyzeQsurCommand implements Callable<Integer> {
    @Mixin ModelOptions modelOptions;
    @Option(names = "--calib", description = "calibration text: stories, tinystories, c4, wikitext2, a file, or 'generated' (default: stories for the embedded model, else c4)") String calib;
    @Option(names = "--nsamples", defaultValue = "16", description = "calibration windows (default: ${DEFAULT-VALUE})") int nsamples;
    @Option(names = "--seqlen", defaultValue = "128", description = "tokens per window, capped by the context (default: ${DEFAULT-VALUE})") int seqLen;
    @Option(names = "--seed", defaultValue = "0", description = "calibration sampling seed, and OSTQuant's (default: ${DEFAULT-VALUE})") long seed;
    @Option(names = "--cases", split = ",", defaultValue = "none,smooth,rotation,ostquant",
            description = "which cases, comma-separated (default: ${DEFAULT-VALUE})") List<String> cases;
    @Option(names = "--epochs", defaultValue = "2", description = "OSTQuant's learning epochs over the calibration windows (default: ${DEFAULT-VALUE})") int epochs;
    @Option(names = "--learn-config", defaultValue = "W4A4KV4", description = "the fake quantization OSTQuant learns under (default: ${DEFAULT-VALUE})") String learnConfig;
    @Option(names = "--smooth-alpha", defaultValue = "0.5", description = "SmoothQuant's migration strength for the smoothing case (default: ${DEFAULT-VALUE})") double smoothAlpha;
    @Option(names = "--rotation-seed", defaultValue = "0", description = "QuaRot's random Hadamard signs for the rotation case (default: ${DEFAULT-VALUE})") long rotationSeed;
    @Option(names = "--figure-seed", defaultValue = "0", description = "seed of the 2-D illustration's Gaussian cloud (default: ${DEFAULT-VALUE})") long figureSeed;
    @Option(names = "--figure-bits", defaultValue = "3", description = "bits per axis of the 2-D illustration's grid (default: ${DEFAULT-VALUE})") int figureBits;
    @Option(names = "--out", paramLabel = "DIR", defaultValue = "analysis", description = "folder for the plots and qsur.json (default: ${DEFAULT-VALUE})") Path out;

    @Override public Integer call() throws Exception {
        List<Case> which = new ArrayList<>();
        for (String c : cases) {
            Case k = parseCase(c);
            if (which.contains(k)) throw new IllegalArgumentException("--cases names " + k.label + " twice");
            which.add(k);
        }
        if (figureBits < 1 || figureBits > 6) throw new IllegalArgumentException("--figure-bits must be 1..6 (a readable grid), got " + figureBits);
        if (epochs < 0) throw new IllegalArgumentException("--epochs must be >= 0, got " + epochs);
        if (nsamples < 1) throw new IllegalArgumentException("--nsamples must be >= 1, got " + nsamples);
        QuantConfig learn = QuantConfig.parse(learnConfig);
        boolean embedded = modelOptions.model == null;
        String calibName = calib != null ? calib : embedded ? "stories-calib" : "c4";
        try (ModelSession s = ModelSession.open(modelOptions)) {
            LlamaConfig c = s.weights().config();
            int window = Math.min(seqLen, c.maxSeqLen());
            int widest = Math.max(c.dim(), Math.max(c.hiddenDim(), c.qDim()));
            if ((long) nsamples * window <= widest)
                throw new IllegalArgumentException("QSUR needs more calibration tokens than features: " + nsamples + " × " + window + " tokens for inputs of up to "
                        + widest + " features; raise --nsamples or --seqlen");
            CalibrationData data = calibName.equals("generated")
                    ? CalibrationData.generated(s.model(), nsamples, window, s.tokenizer().bos(), 1.0, 0.95, seed)
                    : CalibrationData.sample(tokens(s, DataSources.calibrationText(calibName)), nsamples, window, seed, calibName);
            System.err.println("calibration: " + data.source());

            QsurAnalysis.Options o = new QsurAnalysis.Options(smoothAlpha, rotationSeed, OstQuant.Options.ostquant().withEpochs(epochs).withSeed(seed), learn);
            QsurAnalysis.Result r = QsurAnalysis.run(s.weights(), data, o, which, ProgressFactory.STDERR);

            System.out.println("(QSUR / max)^(1/d): 1 = the quantizer's range fully used; K and V per head, averaged over heads");
            StringBuilder head = new StringBuilder(String.format(Locale.ROOT, "%-16s %5s", "site", "d"));
            for (Case k : which) head.append(String.format(Locale.ROOT, " %10s", k.label));
            System.out.println(head);
            for (QsurAnalysis.Entry e : r.entries()) System.out.println(QsurAnalysis.row(e, which));
            for (Site site : Site.values()) {
                StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "%-16s %5s", "mean " + site.label, ""));
                for (Case k : which) b.append(String.format(Locale.ROOT, " %10.4f", r.mean(k, site)));
                System.out.println(b);
            }
            StringBuilder all = new StringBuilder(String.format(Locale.ROOT, "%-16s %5s", "mean all", ""));
            for (Case k : which) all.append(String.format(Locale.ROOT, " %10.4f", r.mean(k, null)));
            System.out.println(all);
            if (r.learning() != null)
                System.out.printf(Locale.ROOT, "ostquant: %d steps under %s, calibration loss %.4g -> %.4g%n", r.learning().steps(), learn.shorthand(),
                        r.learning().lossBefore(), r.learning().lossAfter());

            Png.write(out.resolve("qsur.png"), QsurFigures.perLayer(r, s.description()));
            System.err.println("wrote " + out.resolve("qsur.png"));
            List<QsurIllustration.Panel> panels = QsurIllustration.panels(figureSeed, 1000);
            Png.write(out.resolve("qsur-2d.png"), QsurIllustration.render(panels, figureBits));
            System.err.println("wrote " + out.resolve("qsur-2d.png"));

            ObjectNode json = EvalCommand.JSON.createObjectNode();
            json.put("model", s.description());
            json.set("calibration", EvalCommand.JSON.valueToTree(data.describe()));
            json.put("smooth_alpha", smoothAlpha).put("rotation_seed", rotationSeed).put("ostquant_epochs", epochs).put("learn_config", learn.shorthand());
            if (r.learning() != null) json.put("ostquant_loss_before", r.learning().lossBefore()).put("ostquant_loss_after", r.learning().lossAfter());
            ArrayNode rows = json.putArray("sites");
            for (QsurAnalysis.Entry e : r.entries()) {
                ObjectNode row = rows.addObject().put("layer", e.layer()).put("site", e.site().name().toLowerCase(Locale.ROOT))
                        .put("dimensions", e.dimensions()).put("groups", e.groups());
                ObjectNode per = row.putObject("per_dimension"), log = row.putObject("log10_qsur");
                for (Case k : which) { number(per, k.label, e.perDimension().get(k)); number(log, k.label, e.log10().get(k)); }
            }
            ObjectNode fig = json.putObject("illustration").put("seed", figureSeed).put("bits", figureBits);
            for (QsurIllustration.Panel p : panels) fig.put(p.title(), Math.exp(p.qsur().log()));
            EvalCommand.writeJson(out.resolve("qsur.json"), json);
        }
        return 0;
    }

    /** A number, or null where the covariance was singular (JSON has no NaN). */
    private static void number(ObjectNode o, String key, double v) {
        if (Double.isFinite(v)) o.put(key, v);
        else o.putNull(key);
    }

    private static Case parseCase(String s) {
        for (Case c : Case.values()) if (c.label.equalsIgnoreCase(s.strip())) return c;
        throw new IllegalArgumentException("unknown QSUR case '" + s + "'; expected none, smooth, rotation or ostquant");
    }

    private static int[] tokens(ModelSession s, EvalDataset d) {
        return d.tokens(t -> s.tokenizer().encode(t, false), s.tokenizer().bos(), false);
    }
}
