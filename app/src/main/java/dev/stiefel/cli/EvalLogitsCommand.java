package dev.stiefel.cli;

import dev.stiefel.autograd.Grad;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.io.LoadedModel;
import dev.stiefel.llama.io.ModelFiles;
import dev.stiefel.llama.io.SafetensorsWriter;
import dev.stiefel.llama.tokenizer.Tokenizer;
import dev.stiefel.llama.tokenizer.Tokenizers;
import dev.stiefel.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * The logits of one token sequence from position 0, to compare with another implementation (transformers' forward of
 * the same ids): top-5 per position on standard output, the whole f32 [T, vocab] tensor with --out.
 */
@Command(name = "logits", mixinStandardHelpOptions = true,
        description = "Logits of a token sequence from position 0: top-5 per position printed, f32 [T, vocab] as 'logits' in --out.")
final class EvalLogitsCommand implements Callable<Integer> {
    static final int TOP = 5;

    @Mixin ModelOptions modelOptions;
    @Option(names = "--ids", required = true, split = ",", paramLabel = "ID", description = "token ids, comma separated (e.g. 1,17,250)")
    int[] ids;
    @Option(names = "--out", paramLabel = "FILE.safetensors", description = "write the logits [T, vocab] (f32, key 'logits') here, atomically")
    Path out;

    @Override public Integer call() throws IOException {
        Path path = modelOptions.model != null ? modelOptions.model : EmbeddedModel.directory();
        try (LoadedModel loaded = ModelFiles.load(path)) {
            LlamaModel model = new LlamaModel(loaded.weights());
            int vocab = model.config().vocabSize();
            if (ids.length > model.config().maxSeqLen())
                throw new IllegalArgumentException(ids.length + " ids exceed the model's context of " + model.config().maxSeqLen());
            Tensor logits;
            try (var off = Grad.off()) {
                logits = model.forward(Tensor.ofInts(ids, 1, ids.length), null).value().reshape(ids.length, vocab).contiguous();
            }
            Tokenizer tok = tokenizer(loaded);
            System.out.printf(Locale.ROOT, "%s: %d tokens, vocabulary %d%s%n", path, ids.length, vocab, tok == null ? " (no tokenizer found: ids only)" : "");
            float[] l = logits.toFloatArray();
            for (int t = 0; t < ids.length; t++) {
                StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "%4d %6d %-12s ->", t, ids[t], piece(tok, ids[t])));
                for (int id : top(l, t * vocab, vocab, TOP))
                    line.append(String.format(Locale.ROOT, "  %d %s %.6f", id, piece(tok, id), l[t * vocab + id]));
                System.out.println(line);
            }
            if (out != null) {
                new SafetensorsWriter().metadata("input_ids", java.util.Arrays.toString(ids)).add("logits", logits).write(out);
                System.err.println("wrote " + out);
            }
        }
        return 0;
    }

    /** The --tokenizer, the model file's own vocabulary, or one beside the model; null when there is none (ids only). */
    private Tokenizer tokenizer(LoadedModel loaded) throws IOException {
        if (modelOptions.tokenizer != null) return Tokenizers.load(modelOptions.tokenizer);
        if (loaded.vocabulary() != null) return loaded.embeddedTokenizer();
        try {
            return Tokenizers.load(ModelSession.findTokenizer(loaded.source()));
        } catch (IllegalArgumentException none) {
            return null;
        }
    }

    /** The token's vocabulary piece, quoted with JSON escapes; "-" without a tokenizer or for an id outside it. */
    static String piece(Tokenizer tok, int id) {
        if (tok == null || id >= tok.vocabSize()) return "-";
        try {
            return EvalCommand.JSON.writeValueAsString(tok.token(id)).replace("\n", "");
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The k largest of l[from, from + n) by value, ties to the lower id, largest first. */
    static int[] top(float[] l, int from, int n, int k) {
        k = Math.min(k, n);
        int[] best = new int[k];
        int found = 0;
        for (int i = 0; i < n; i++) {
            float v = l[from + i];
            int at = found;
            while (at > 0 && v > l[from + best[at - 1]]) at--;
            if (at >= k) continue;
            System.arraycopy(best, at, best, at + 1, Math.min(found, k - 1) - at);
            best[at] = i;
            if (found < k) found++;
        }
        return best;
    }
}
