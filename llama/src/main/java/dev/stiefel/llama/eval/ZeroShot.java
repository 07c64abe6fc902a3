package dev.stiefel.llama.eval;

import dev.stiefel.autograd.Grad;
import dev.stiefel.llama.KvCache;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.Progress;
import dev.stiefel.tensor.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * lm-evaluation-harness style zero-shot scoring. Each (context, continuation) pair is scored by the summed
 * log-likelihood of the continuation's tokens after the context; acc takes the argmax of the sums, acc_norm the
 * argmax of the sums divided by the continuation's length in characters (lm-eval's length normalisation).
 *
 * <p>Tokenization as lm-eval: the continuation's tokens are those of encode(context + continuation) after the first
 * |encode(context)| tokens, so a SentencePiece word boundary is tokenized as in running text. A context is run once
 * through the KV cache; each of its continuations runs from there and the cache is truncated back after it.
 */
public final class ZeroShot {
    private ZeroShot() {}

    /** Text to token ids, without BOS. */
    public interface Encoder { int[] encode(String text); }

    /**
     * Accuracy, length-normalised accuracy and their standard errors (sample standard deviation / √n, as lm-eval
     * reports). For LAMBADA, acc is the greedy last-word accuracy and {@code perplexity} the continuation perplexity.
     */
    public record TaskResult(String task, int items, double acc, double accStderr, double accNorm, double accNormStderr,
                             double perplexity, double seconds) {}

    /** Log-likelihood of one continuation, and whether greedy decoding would have produced all of it. */
    record Score(double logLikelihood, boolean greedy, int tokens) {}

    public static TaskResult evaluate(LlamaModel model, Encoder encoder, int bos, ZeroShotTask task, Progress progress) {
        long t0 = System.nanoTime();
        int correct = 0, correctNorm = 0, n = 0;
        double nll = 0;
        long nllTokens = 0;
        KvCache cache = model.newCache(1, model.config().maxSeqLen());
        for (ZeroShotTask.Item item : task.items()) {
            Score[] scores = scoreItem(model, encoder, bos, item, cache);
            if (task.greedyMatch()) {
                if (scores[0].greedy()) correct++;
                correctNorm = correct;
                nll -= scores[0].logLikelihood();
                nllTokens += scores[0].tokens();
            } else {
                int best = 0, bestNorm = 0;
                for (int i = 1; i < scores.length; i++) {
                    if (scores[i].logLikelihood() > scores[best].logLikelihood()) best = i;
                    if (normalised(scores[i], item, i) > normalised(scores[bestNorm], item, bestNorm)) bestNorm = i;
                }
                if (best == item.gold()) correct++;
                if (bestNorm == item.gold()) correctNorm++;
            }
            n++;
            progress.status(String.format(java.util.Locale.ROOT, "acc %.4f", correct / (double) n));
            progress.step(1);
        }
        double acc = correct / (double) n, accNorm = correctNorm / (double) n;
        return new TaskResult(task.name(), n, acc, stderr(acc, n), accNorm, stderr(accNorm, n),
                task.greedyMatch() ? Math.exp(nll / Math.max(nllTokens, 1)) : Double.NaN, (System.nanoTime() - t0) * 1e-9);
    }

    private static double normalised(Score s, ZeroShotTask.Item item, int i) {
        return s.logLikelihood() / Math.max(1, item.continuations().get(i).strip().length());
    }

    /** √(p(1−p)/(n−1)): the standard error of a mean of n 0/1 outcomes with the sample standard deviation. */
    static double stderr(double p, int n) { return n > 1 ? Math.sqrt(p * (1 - p) / (n - 1)) : Double.NaN; }

    static Score[] scoreItem(LlamaModel model, Encoder encoder, int bos, ZeroShotTask.Item item, KvCache cache) {
        Score[] out = new Score[item.contexts().size()];
        // group the pairs by context so each context runs once
        Map<String, List<Integer>> byContext = new LinkedHashMap<>();
        for (int i = 0; i < out.length; i++) byContext.computeIfAbsent(item.contexts().get(i), k -> new java.util.ArrayList<>()).add(i);
        for (var group : byContext.entrySet()) {
            String context = group.getKey();
            int[] ctx = encoder.encode(context);
            int[][] conts = new int[group.getValue().size()][];
            int longest = 1;
            for (int g = 0; g < conts.length; g++) {
                int[] whole = encoder.encode(context + item.continuations().get(group.getValue().get(g)));
                conts[g] = Arrays.copyOfRange(whole, Math.min(ctx.length, whole.length), whole.length);
                if (conts[g].length == 0)
                    throw new IllegalArgumentException("zero-shot: continuation '" + item.continuations().get(group.getValue().get(g)) + "' encodes to no tokens");
                longest = Math.max(longest, conts[g].length);
            }
            int max = model.config().maxSeqLen();
            if (longest < max) {
                int[] prefix = withBos(bos, ctx, max - longest + 1);
                Score[] s = scoreContinuations(model, prefix, conts, cache);
                for (int g = 0; g < conts.length; g++) out[group.getValue().get(g)] = s[g];
            } else {
                // a continuation as long as the context window: as lm-eval, keep the last maxSeqLen + 1 tokens of
                // BOS + context + continuation and score the continuation tokens that remain predictable in it
                for (int g = 0; g < conts.length; g++) out[group.getValue().get(g)] = scoreTail(model, withBos(bos, ctx, Integer.MAX_VALUE), conts[g]);
            }
        }
        return out;
    }

    /** BOS + context, keeping the last {@code room} tokens when it is too long (lm-eval truncates on the left). */
    private static int[] withBos(int bos, int[] ctx, int room) {
        int[] full = new int[ctx.length + (bos >= 0 ? 1 : 0)];
        if (bos >= 0) full[0] = bos;
        System.arraycopy(ctx, 0, full, bos >= 0 ? 1 : 0, ctx.length);
        return full.length <= room ? full : Arrays.copyOfRange(full, full.length - room, full.length);
    }

    /** Scores the continuation's tokens inside the last maxSeqLen + 1 tokens of prefix + continuation, without a cache. */
    static Score scoreTail(LlamaModel model, int[] prefix, int[] cont) {
        int[] all = Arrays.copyOf(prefix, prefix.length + cont.length);
        System.arraycopy(cont, 0, all, prefix.length, cont.length);
        int keep = Math.min(all.length, model.config().maxSeqLen() + 1), first = all.length - keep;
        double[] nll = Perplexity.tokenNll(model, Arrays.copyOfRange(all, first, all.length)); // predicts all[first+1 ..]
        double ll = 0;
        int scored = 0;
        for (int i = Math.max(prefix.length, first + 1); i < all.length; i++) { ll -= nll[i - first - 1]; scored++; }
        return new Score(ll, false, scored); // greedy matching is only asked of LAMBADA, whose words are short
    }

    /** The prefix runs once; each continuation is scored from the cache after it. */
    static Score[] scoreContinuations(LlamaModel model, int[] prefix, int[][] conts, KvCache cache) {
        Score[] out = new Score[conts.length];
        try (var off = Grad.off()) {
            cache.clear();
            float[] last = model.nextLogits(Tensor.ofInts(prefix, 1, prefix.length), cache).toFloatArray();
            int kept = cache.length();
            double[] lastLogp = logSoftmax(last, 0, last.length);
            for (int c = 0; c < conts.length; c++) {
                int[] cont = conts[c];
                double ll = lastLogp[cont[0]];
                boolean greedy = argmax(last, 0, last.length) == cont[0];
                if (cont.length > 1) {
                    // positions 0..n−2 of the continuation predict its tokens 1..n−1
                    float[] logits = model.forward(Tensor.ofInts(Arrays.copyOf(cont, cont.length - 1), 1, cont.length - 1), cache).value().toFloatArray();
                    int v = last.length;
                    for (int t = 0; t + 1 < cont.length; t++) {
                        ll += logSoftmax(logits, t * v, v)[cont[t + 1]];
                        greedy &= argmax(logits, t * v, v) == cont[t + 1];
                    }
                    cache.truncate(kept);
                }
                out[c] = new Score(ll, greedy, cont.length);
            }
        }
        return out;
    }

    private static double[] logSoftmax(float[] x, int off, int n) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int i = 0; i < n; i++) max = Math.max(max, x[off + i]);
        for (int i = 0; i < n; i++) sum += Math.exp(x[off + i] - max);
        double lse = max + Math.log(sum);
        double[] r = new double[n];
        for (int i = 0; i < n; i++) r[i] = x[off + i] - lse;
        return r;
    }

    private static int argmax(float[] x, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (x[off + i] > x[off + best]) best = i;
        return best;
    }
}
