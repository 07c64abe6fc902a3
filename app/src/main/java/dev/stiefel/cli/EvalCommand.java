package dev.stiefel.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stiefel.llama.Progress;
import dev.stiefel.llama.eval.EvalDataset;
import dev.stiefel.llama.eval.Perplexity;
import dev.stiefel.llama.eval.ZeroShot;
import dev.stiefel.llama.eval.ZeroShotTask;
import dev.stiefel.llama.io.AtomicFiles;
import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.cpu.CpuBackend;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** Perplexity and zero-shot accuracy, measured the way the quantization papers measure them. */
@Command(name = "eval", description = "Evaluate a model: perplexity (ppl), zero-shot tasks (tasks) or the logits of a token sequence (logits).",
        subcommands = {EvalCommand.Ppl.class, EvalCommand.Tasks.class, EvalLogitsCommand.class})
final class EvalCommand implements Runnable {
    @Override public void run() { new picocli.CommandLine(this).usage(System.out); }

    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    static void writeJson(Path file, ObjectNode node) throws java.io.IOException {
        AtomicFiles.write(file, JSON.writeValueAsString(node).getBytes(StandardCharsets.UTF_8));
        System.err.println("wrote " + file);
    }

    @Command(name = "ppl", mixinStandardHelpOptions = true,
            description = "Perplexity: rows joined, tokenized once, non-overlapping windows of --seqlen tokens, remainder dropped.")
    static final class Ppl implements Callable<Integer> {
        @Mixin ModelOptions modelOptions;
        @Mixin BackendOption backendOption;
        @Option(names = "--dataset", defaultValue = "wikitext2", description = "wikitext2, c4, tinystories, stories (generated held-out) or a text file (default: ${DEFAULT-VALUE})") String dataset;
        @Option(names = "--seqlen", defaultValue = "2048", description = "window length, capped by the model's context (default: ${DEFAULT-VALUE})") int seqLen;
        @Option(names = "--limit", defaultValue = "0", description = "score at most this many windows (0: all; c4 defaults to 256)") int limit;
        @Option(names = "--stride", defaultValue = "0", description = "sliding-window stride (0: the standard non-overlapping protocol)") int stride;
        @Option(names = "--bos-per-row", description = "tokenize each row on its own after a BOS, as llama2.c pretokenizes TinyStories") boolean bosPerRow;
        @Option(names = "--json", description = "also write the result as JSON to this file") Path json;

        @Override public Integer call() throws Exception {
            try (ModelSession s = ModelSession.open(modelOptions)) {
                ObjectNode out = run(s, dataset, seqLen, limit, stride, bosPerRow);
                System.out.println(JSON.writeValueAsString(out));
                if (json != null) writeJson(json, out);
            }
            return 0;
        }

        static ObjectNode run(ModelSession s, String dataset, int seqLen, int limit, int stride, boolean bosPerRow) {
            EvalDataset data = DataSources.evalText(dataset);
            int window = Math.min(seqLen, s.weights().config().maxSeqLen());
            int[] tokens = data.tokens(text -> s.tokenizer().encode(text, false), s.tokenizer().bos(), bosPerRow);
            int maxWindows = limit > 0 ? limit : data.defaultMaxWindows();
            Perplexity.Options o = new Perplexity.Options(window, maxWindows, Math.min(stride, window));
            List<Perplexity.Window> ws = Perplexity.windows(tokens.length, o);
            Perplexity.Result r;
            try (Progress p = Progress.of("ppl " + data.name(), ws.size(), "windows")) {
                r = Perplexity.evaluate(s.model(), tokens, o, p);
            }
            String backend = Backends.current().name();
            System.err.printf(Locale.ROOT, "%s on %s: ppl %.4f (%d windows of %d tokens, %d tokens scored of %d%s)%n", s.description(),
                    data.name(), r.perplexity(), r.windows(), r.seqLen(), r.tokensScored(), r.datasetTokens(),
                    backend.equals(CpuBackend.NAME) ? "" : "; on the " + backend + " backend");
            ObjectNode n = JSON.createObjectNode();
            n.put("model", s.description()).put("backend", backend).put("dataset", data.name()).put("rows", data.rows()).put("perplexity", r.perplexity())
                    .put("mean_nll", r.meanNll()).put("seqlen", r.seqLen()).put("stride", r.stride()).put("windows", r.windows()).put("bos_per_row", bosPerRow)
                    .put("tokens_scored", r.tokensScored()).put("dataset_tokens", r.datasetTokens());
            return n;
        }
    }

    @Command(name = "tasks", mixinStandardHelpOptions = true,
            description = "Zero-shot multiple choice by log-likelihood (lm-eval style): acc, acc_norm and their standard errors.")
    static final class Tasks implements Callable<Integer> {
        @Mixin ModelOptions modelOptions;
        @Mixin BackendOption backendOption;
        @Option(names = "--tasks", split = ",", defaultValue = "piqa,arc_easy,arc_challenge,boolq,winogrande,hellaswag,lambada_openai,openbook_qa,siqa",
                description = "comma-separated: ${COMPLETION-CANDIDATES}") List<String> tasks;
        @Option(names = "--limit", defaultValue = "0", description = "first N items of each task (0: all)") int limit;
        @Option(names = "--json", description = "write the results as JSON to this file") Path json;

        @Override public Integer call() throws Exception {
            try (ModelSession s = ModelSession.open(modelOptions)) {
                Path dir = EvalDataset.sharedDir().resolve("data/zeroshot");
                ArrayNode results = JSON.createArrayNode();
                System.out.printf("%-16s %6s %8s %8s %8s %8s%n", "task", "n", "acc", "±", "acc_norm", "±");
                for (String name : tasks) {
                    ZeroShotTask task = ZeroShotTask.load(name.strip(), dir, limit);
                    ZeroShot.TaskResult r;
                    try (Progress p = Progress.of(name, task.items().size(), "items")) {
                        r = ZeroShot.evaluate(s.model(), text -> s.tokenizer().encode(text, false), s.tokenizer().bos(), task, p);
                    }
                    System.out.printf(Locale.ROOT, "%-16s %6d %8.4f %8.4f %8.4f %8.4f%s%n", r.task(), r.items(), r.acc(), r.accStderr(),
                            r.accNorm(), r.accNormStderr(), Double.isNaN(r.perplexity()) ? "" : String.format(Locale.ROOT, "  (ppl %.2f)", r.perplexity()));
                    ObjectNode n = results.addObject();
                    n.put("task", r.task()).put("n", r.items()).put("acc", r.acc()).put("acc_stderr", r.accStderr())
                            .put("acc_norm", r.accNorm()).put("acc_norm_stderr", r.accNormStderr()).put("seconds", r.seconds());
                    if (!Double.isNaN(r.perplexity())) n.put("perplexity", r.perplexity());
                }
                if (json != null) {
                    ObjectNode root = JSON.createObjectNode();
                    root.put("model", s.description()).put("limit", limit).set("results", results);
                    writeJson(json, root);
                }
            }
            return 0;
        }
    }
}
