package dev.stiefel.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.MappedPages;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.Progress;
import dev.stiefel.llama.eval.EvalDataset;
import dev.stiefel.llama.eval.Perplexity;
import dev.stiefel.llama.io.HuggingFaceLoader;
import dev.stiefel.llama.io.HuggingFaceWriter;
import dev.stiefel.llama.io.LoadedModel;
import dev.stiefel.llama.io.ModelFiles;
import dev.stiefel.quant.pipeline.Method;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.export.GptqExport;
import dev.stiefel.quant.export.PackedExport;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.calib.TokenSplit;
import dev.stiefel.quant.catalog.Methods;
import dev.stiefel.quant.method.SmoothQuant;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Quantizes a model with one or more methods and settings in one run (same calibration windows, same evaluation
 * windows, same seeds), prints full-precision and quantized perplexity side by side, and writes a JSON report with
 * every setting. Without arguments it quantizes the embedded story model at W4A16 g32 with RTN and GPTQ.
 */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = "Quantize a model (RTN, GPTQ) and compare perplexity with full precision.")
final class QuantizeCommand implements Callable<Integer> {
    /** Every method's options at their defaults: the flags below start from these values (none is written twice). */
    private static final Methods.Options DEFAULTS = Methods.Options.defaults();

    @Mixin ModelOptions modelOptions;
    @Mixin BackendOption backendOption;
    @Mixin OmniQuantFlags omniQuantFlags;
    @Mixin FlatQuantFlags flatQuantFlags;
    @Mixin AdaptiveFlags adaptiveFlags;
    @Mixin OstQuantFlags ostQuantFlags;
    @Option(names = "--method", split = ",", defaultValue = "rtn,gptq", description = "methods to compare, comma-separated (see docs/methods; default: ${DEFAULT-VALUE})") List<String> methods;
    @Option(names = "--config", split = ",", defaultValue = "W4A16g32",
            description = "shorthand settings, comma-separated: W4A16, W3A16g32, W8A8, W4A4KV4, W3A3K2V2 ... (default: ${DEFAULT-VALUE})") List<String> configs;
    @Option(names = "--wgroup", description = "weight group size (overrides the shorthand's)") Integer wgroup;
    @Option(names = "--wsym", description = "symmetric weight grids (zero point fixed at the middle; default: asymmetric)") boolean weightSymmetric;
    @Option(names = "--clip-search", description = "search the weight clipping ratio minimising the L2.4 error (QuaRot/GPTQ)") boolean clipSearch;
    @Option(names = "--act-order", description = "GPTQ: quantize columns in order of decreasing Hessian diagonal") boolean actOrder;
    @Option(names = "--static-groups", description = "GPTQ: fix group scales before the column loop") boolean staticGroups;
    @Option(names = "--smooth-alpha", description = "SmoothQuant's migration strength (default: ${DEFAULT-VALUE})") double smoothAlpha = DEFAULTS.smoothAlpha();
    @Option(names = "--smooth-level", description = "SmoothQuant's quantizer settings: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}, the config's)") SmoothQuant.Level smoothLevel = DEFAULTS.smoothLevel();
    @Option(names = "--rotation-seed", description = "QuaRot's random Hadamard signs (default: ${DEFAULT-VALUE})") long rotationSeed = DEFAULTS.rotationSeed();
    @Option(names = "--calib", description = "calibration text: stories, tinystories, c4, wikitext2, a file, or 'generated' (default: stories for the embedded model, else c4)") String calib;
    @Option(names = "--nsamples", defaultValue = "128", description = "calibration windows (default: ${DEFAULT-VALUE})") int nsamples;
    @Option(names = "--seqlen", defaultValue = "2048", description = "calibration and evaluation window, capped by the context (default: ${DEFAULT-VALUE})") int seqLen;
    @Option(names = "--eval", split = ",", description = "perplexity datasets (default: stories for the embedded model, else wikitext2)") List<String> evals;
    @Option(names = "--eval-windows", defaultValue = "0", description = "score at most this many windows per dataset (0: all)") int evalWindows;
    @Option(names = "--seed", defaultValue = "0", description = "calibration sampling seed (default: ${DEFAULT-VALUE})") long seed;
    @Option(names = "--save", description = "write the last quantized model here: a packed model directory (the codes, and what runs around them; "
            + "generate, eval and info run it with --model), or a GGUF file (name *.gguf) for the llama.cpp configs Q4_0 ... Q4_K_M; {method} and "
            + "{config} in a .gguf name write every model") Path save;
    @Option(names = "--save-format", description = "how --save writes a directory: packed (the default: low-bit codes, docs/FORMAT.md), hf (the "
            + "fake-quantized weights as an f32 Hugging Face checkpoint, for methods whose transforms all fold into the weights) or gptq (a GPTQ-format "
            + "checkpoint, qweight/qzeros/scales/g_idx, that transformers and vLLM load: 4 or 8 bits, weight-only, any method whose "
            + "transforms fold into the weights; --act-order with groups needs --static-groups); a *.gguf name is always GGUF") String saveFormat;
    @Option(names = "--work-dir", paramLabel = "DIR",
            description = "make a long run resumable: GPTQ and OmniQuant commit each finished block here (its weights and the next block's "
                    + "calibration activations), OSTQuant and SpinQuant checkpoint their learning (--ost-checkpoint-every); the same command run "
                    + "again resumes where the last one stopped (default: all in memory; the other methods of the command run in memory)") Path workDir;
    @Option(names = "--json", description = "write the report (every setting and result) to this file") Path json;

    @Override public Integer call() throws Exception {
        // Every config and method is parsed and built before anything is loaded, so a typo fails in milliseconds,
        // not after the calibration data and a full-precision evaluation.
        List<QuantConfig> plannedConfigs = new ArrayList<>();
        for (String c : configs) plannedConfigs.add(configure(QuantConfig.parse(c)));
        for (String m : methods) method(m); // built again per config below: a method may keep state across one run
        if (workDir != null) { // a quick method beside a long one runs in memory; a command with nothing to resume is a mistake
            List<String> inMemory = methods.stream().map(String::strip).filter(m -> !Methods.RESUMABLE.contains(m)).toList();
            if (inMemory.size() == methods.size())
                throw new IllegalArgumentException("--work-dir: " + String.join(", ", inMemory) + (inMemory.size() == 1 ? " does" : " do")
                        + " not resume from a work directory; those that do: " + String.join(", ", Methods.RESUMABLE));
            if (!inMemory.isEmpty()) System.err.println("--work-dir: " + String.join(", ", inMemory) + " will run in memory (no resume)");
        }
        String format = checkSaveFormat(plannedConfigs.getLast());
        if (nsamples < 1) throw new IllegalArgumentException("--nsamples must be >= 1, got " + nsamples);
        if (seqLen < 2) throw new IllegalArgumentException("--seqlen must be >= 2, got " + seqLen);
        if (evalWindows < 0) throw new IllegalArgumentException("--eval-windows must be >= 0, got " + evalWindows);
        boolean embedded = modelOptions.model == null;
        String calibName = calib != null ? calib : embedded ? "stories-calib" : "c4";
        List<String> evalNames = evals != null ? evals : List.of(embedded ? "stories" : "wikitext2");
        RunStats stats = new RunStats();
        boolean releasing = MappedPages.releasingAfterEachBlock(); // this run's policy ends with it
        try (ModelSession s = stats.time("load", () -> ModelSession.open(modelOptions))) {
            if (s.loaded().isPacked())
                throw new IllegalArgumentException(s.description() + " is a packed model, already quantized; quantize the model it was made from");
            stats.model(s.loaded().source());
            if (stats.mappedBytes() > RunStats.physicalMemory() / 4) { // keep about one block of a large model resident
                MappedPages.releaseAfterEachBlock(true);
                System.err.printf("model files: %s, over a quarter of memory; each block's mapped pages are released after use%n", RunStats.bytes(stats.mappedBytes()));
            }
            int window = Math.min(seqLen, s.weights().config().maxSeqLen());
            LlamaModel fp = s.model();

            // evaluation tokens, and calibration windows that never overlap them
            Map<String, int[]> evalTokens = new LinkedHashMap<>();
            String[] split = {null};
            CalibrationData calibration = stats.time("data", () -> {
                for (String name : evalNames) evalTokens.put(name, tokens(s, DataSources.evalText(name)));
                if (calibName.equals("generated")) return CalibrationData.generated(fp, nsamples, window, s.tokenizer().bos(), 1.0, 0.95, seed);
                int[] calTokens = tokens(s, DataSources.calibrationText(calibName));
                if (evalTokens.containsKey(calibName)) {
                    TokenSplit t = TokenSplit.of(calTokens, TokenSplit.DEFAULT_CALIBRATION_FRACTION);
                    evalTokens.put(calibName, t.evaluation());
                    calTokens = t.calibration();
                    split[0] = t.toString();
                }
                return CalibrationData.sample(calTokens, nsamples, window, seed, calibName);
            });
            System.err.println("calibration: " + calibration.source() + (split[0] != null ? "; " + split[0] : ""));

            ObjectNode report = EvalCommand.JSON.createObjectNode();
            report.put("model", s.description()).put("seqlen", window).put("eval_windows", evalWindows).put("seed", seed);
            report.set("calibration", EvalCommand.JSON.valueToTree(calibration.describe()));
            if (split[0] != null) report.put("calibration_split", split[0]);
            ArrayNode rows = report.putArray("results");

            List<String[]> table = new ArrayList<>();
            ObjectNode fpRow = rows.addObject().put("method", "fp").put("config", "fp");
            table.add(row("fp16", "-", stats.time("evaluate", () -> ppl(fp, evalTokens, window, "fp", fpRow))));
            QuantizedModel last = null;
            QuantConfig lastConfig = null;
            for (QuantConfig config : plannedConfigs) {
                for (String m : methods) {
                    Method method = method(m);
                    long t0 = System.nanoTime();
                    QuantizedModel q = stats.time("quantize " + m, () -> method.apply(s.weights(), calibration, config, ProgressFactory.STDERR));
                    double seconds = (System.nanoTime() - t0) * 1e-9;
                    for (var section : q.report().sections())
                        if (section instanceof dev.stiefel.quant.pipeline.Report.Stages st) stats.stages("quantize " + m + " " + config.shorthand(), st.stageSeconds());
                    ObjectNode r = rows.addObject().put("method", m).put("config", config.shorthand()).put("quantize_seconds", seconds);
                    r.set("settings", EvalCommand.JSON.valueToTree(config.describe()));
                    r.set("report", ReportJson.of(q));
                    table.add(row(config.shorthand(), m, stats.time("evaluate", () -> ppl(q.model(), evalTokens, window, m + " " + config.shorthand(), r))));
                    if (save != null) { // held for --save only: a model is as large as the original in f32, and the next method needs the room
                        last = q;
                        lastConfig = config;
                    }
                    if (save != null && GgufSave.isGguf(save) && GgufSave.isPattern(save)) {
                        if (!q.foldedIntoWeights())
                            throw new IllegalArgumentException("--save: " + m + " leaves rotations that run at inference time; llama.cpp cannot run them");
                        Path file = GgufSave.resolve(save, m, config);
                        GgufSave.write(s, config, q, m, file);
                        // read the file back and score it on the same windows: the figure must equal the row's
                        try (var back = dev.stiefel.llama.io.GgufLoader.load(file)) {
                            String[] cells = ppl(new LlamaModel(back.weights()), evalTokens, window, m + " " + config.shorthand() + " (file)", r.putObject("gguf_file"));
                            table.add(row(config.shorthand(), m + " (file)", cells));
                        }
                    }
                }
            }

            System.out.printf("%n%-14s %-12s", "config", "method");
            for (String e : evalTokens.keySet()) System.out.printf(" %14s", e);
            System.out.println();
            for (String[] r : table) {
                System.out.printf("%-14s %-12s", r[0], r[1]);
                for (int i = 2; i < r.length; i++) System.out.printf(" %14s", r[i]);
                System.out.println();
            }
            if (save != null && last != null) save(s, format, last, lastConfig, methods.getLast(), evalTokens, window, report);
            System.err.println(stats.summary());
            ObjectNode cost = report.putObject("cost");
            cost.set("seconds", EvalCommand.JSON.valueToTree(stats.seconds()));
            cost.put("peak_heap_bytes", RunStats.peakHeapBytes()).put("model_file_bytes", stats.mappedBytes()).put("peak_resident_bytes", RunStats.peakResidentBytes())
                    .put("mapped_pages_released_after_each_block", MappedPages.releasingAfterEachBlock());
            if (json != null) EvalCommand.writeJson(json, report);
        } finally {
            MappedPages.releaseAfterEachBlock(releasing);
        }
        return 0;
    }

    private QuantConfig configure(QuantConfig c) {
        if (c.weight() == null) return c;
        if (c.ggml() != null && (wgroup != null || clipSearch || weightSymmetric))
            throw new IllegalArgumentException("--config " + c.shorthand() + ": llama.cpp's grids fix the block size and the scale rule; --wgroup, --wsym and --clip-search do not apply");
        QuantSpec w = c.weight();
        if (wgroup != null) w = QuantSpec.weights(w.bits(), w.symmetric(), wgroup);
        if (weightSymmetric) w = w.withSymmetric(true);
        if (clipSearch) w = w.withClipping(QuantSpec.Clipping.search());
        return c.withWeight(w);
    }

    private Method method(String name) {
        return Methods.byName(name, new Methods.Options(actOrder, staticGroups, smoothAlpha, smoothLevel, rotationSeed)
                .withOmniquant(omniQuantFlags.options()).withFlatquant(flatQuantFlags.options(rotationSeed))
                .withOstquant(ostQuantFlags.overrides()).withKurtosisRule(adaptiveFlags.rule())
                .withWorkDir(Methods.RESUMABLE.contains(name.strip()) ? workDir : null));
    }

    private static int[] tokens(ModelSession s, EvalDataset d) {
        return d.tokens(t -> s.tokenizer().encode(t, false), s.tokenizer().bos(), false);
    }

    /**
     * What --save writes: gguf (a *.gguf name), or a directory as packed (the default), hf or gptq; refuses, before
     * anything runs, what that format cannot hold.
     */
    private String checkSaveFormat(QuantConfig lastConfig) {
        if (saveFormat != null && !List.of("packed", "hf", "gptq").contains(saveFormat))
            throw new IllegalArgumentException("--save-format must be packed, hf or gptq, got '" + saveFormat + "'");
        if (saveFormat != null && save == null) throw new IllegalArgumentException("--save-format " + saveFormat + " needs --save DIR");
        if (save == null) return null;
        if (GgufSave.isGguf(save)) {
            if (saveFormat != null) throw new IllegalArgumentException("--save " + save + " names a GGUF file; --save-format " + saveFormat + " writes a directory");
            return "gguf";
        }
        String format = saveFormat == null ? "packed" : saveFormat;
        if (format.equals("gptq")) GptqExport.settings(lastConfig);
        if (format.equals("packed")) PackedExport.packing(lastConfig);
        return format;
    }

    /** Writes the last model as {@code format} says, then scores the file read back on the same windows: what a runtime loading it computes. */
    private void save(ModelSession s, String format, QuantizedModel last, QuantConfig lastConfig, String method, Map<String, int[]> evalTokens, int window,
                      ObjectNode report) throws java.io.IOException {
        if (!format.equals("packed") && !last.foldedIntoWeights())
            throw new IllegalArgumentException("--save: the last method (" + method + ") leaves transforms that run at inference time ("
                    + last.online().size() + ", e.g. " + last.online().get(0).describe() + "); " + (format.equals("gguf") ? "llama.cpp" : "a " + format + " checkpoint")
                    + " cannot hold them, so the saved model would compute something else. Save it in the packed format (the default for a directory), "
                    + "or save a method whose transforms are all folded (rtn, gptq, smoothquant, awq, omniquant).");
        switch (format) {
            case "gguf" -> {
                // (with {method}/{config} in the name every model was written as it was made)
                if (!GgufSave.isPattern(save)) GgufSave.write(s, lastConfig, last, method, save);
            }
            case "gptq" -> {
                GptqExport.Result written = GptqExport.write(last, save);
                System.err.printf(Locale.ROOT, "wrote %s %s to %s as a GPTQ checkpoint (%d linears, %d-bit, group %s, %s); f16 scales move a weight by at most %.3g%n",
                        method, lastConfig.shorthand(), save, written.linears(), written.settings().bits(),
                        written.settings().groupSize() == 0 ? "per channel" : written.settings().groupSize(),
                        written.settings().symmetric() ? "symmetric" : "asymmetric", written.maxWeightChange());
                try (LlamaWeights back = HuggingFaceLoader.load(save)) {
                    ObjectNode fileRow = report.putObject("gptq_file").put("path", save.toString()).put("max_weight_change", written.maxWeightChange());
                    String[] cells = ppl(new LlamaModel(back), evalTokens, window, method + " (gptq file)", fileRow);
                    System.err.println("perplexity of the file read back: " + String.join(" ", cells));
                }
            }
            case "hf" -> {
                HuggingFaceWriter.write(last.weights(), save);
                System.err.println("wrote the last quantized weights to " + save + " as f32 (activation/KV quantization is applied at run time, not stored)");
            }
            default -> {
                PackedExport.Result written = PackedExport.write(last, method, save, ProgressFactory.STDERR);
                String tokenizer = copyTokenizer(s, save);
                System.err.printf(Locale.ROOT, "wrote %s %s to %s as a packed model: %d matrices in %s codes, %.2f MB%s; %s%n", method, lastConfig.shorthand(), save,
                        written.packed(), written.packing(), written.packedBytes() / 1e6, written.fallback().isEmpty() ? "" : ", " + written.fallback().size() + " stored in f32",
                        tokenizer);
                written.fallback().forEach((name, why) -> System.err.println("  " + name + ": " + why));
                try (LoadedModel back = ModelFiles.load(save)) {
                    ObjectNode fileRow = report.putObject("packed_file").put("path", save.toString()).put("packed_matrices", written.packed())
                            .put("packed_bytes", written.packedBytes()).put("packing", written.packing().toString());
                    fileRow.set("fallback", EvalCommand.JSON.valueToTree(written.fallback()));
                    String[] cells = ppl(PackedExport.load(back).model(), evalTokens, window, method + " (packed file)", fileRow);
                    System.err.println("perplexity of the packed file read back, on the packed kernels: " + String.join(" ", cells));
                }
            }
        }
    }

    /** The tokenizer file the session read, copied beside the saved model (atomically); says what was done. */
    private static String copyTokenizer(ModelSession s, Path dir) throws java.io.IOException {
        if (s.tokenizerFile() == null) return "no tokenizer file to copy (the source embeds its vocabulary): pass --tokenizer when running it";
        Path target = dir.resolve(s.tokenizerFile().getFileName());
        Path tmp = Files.createTempFile(dir, ".tokenizer", ".tmp");
        Files.copy(s.tokenizerFile(), tmp, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.move(tmp, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        return "tokenizer " + target.getFileName() + " copied";
    }

    private String[] ppl(LlamaModel model, Map<String, int[]> evalTokens, int window, String label, ObjectNode out) {
        String[] cells = new String[evalTokens.size()];
        int i = 0;
        ObjectNode ppl = out.putObject("perplexity");
        for (var e : evalTokens.entrySet()) {
            Perplexity.Options o = new Perplexity.Options(window, evalWindows, 0);
            Perplexity.Result r;
            try (Progress p = Progress.of(label + " ppl " + e.getKey(), Perplexity.windows(e.getValue().length, o).size(), "windows")) {
                r = Perplexity.evaluate(model, e.getValue(), o, p);
            }
            ppl.put(e.getKey(), r.perplexity());
            cells[i++] = perplexity(r.perplexity());
        }
        return cells;
    }

    /**
     * A perplexity for the table: four decimals, as docs/RESULTS.md prints them; from a million up (random weights
     * of a synthetic checkpoint reach 10^100) four significant digits in exponent form, not a hundred-digit integer.
     */
    static String perplexity(double p) {
        return String.format(Locale.ROOT, p < 1e6 ? "%.4f" : "%.4e", p);
    }

    private static String[] row(String config, String method, String[] cells) {
        String[] r = new String[cells.length + 2];
        r[0] = config;
        r[1] = method;
        System.arraycopy(cells, 0, r, 2, cells.length);
        return r;
    }
}
