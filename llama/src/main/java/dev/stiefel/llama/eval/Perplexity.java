package dev.stiefel.llama.eval;

import dev.stiefel.autograd.Grad;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.Progress;
import dev.stiefel.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Perplexity the way GPTQ, QuaRot, SpinQuant, OSTQuant and OmniQuant measure it: the dataset's rows joined and
 * tokenized once (see {@link EvalDataset}), cut into non-overlapping windows of {@code seqLen} tokens with the
 * remainder dropped; each window is scored independently (its first token has no context and is not predicted), and
 * ppl = exp(mean over windows of the window's mean token NLL). GPTQ's code writes this as
 * exp(Σᵢ meanNLLᵢ·seqLen / (windows·seqLen)), the same number.
 *
 * <p>The sliding variant (Hugging Face's "perplexity of fixed-length models") moves windows of seqLen tokens by
 * {@code stride} and scores in each window only the tokens the previous one did not, each with up to seqLen − 1 tokens
 * of context; ppl = exp(total NLL / tokens scored).
 */
public final class Perplexity {
    private Perplexity() {}

    /**
     * @param seqLen     window length in tokens
     * @param maxWindows score at most this many windows (0: all)
     * @param stride     0 for the standard non-overlapping protocol, else the sliding window step (1 ≤ stride ≤ seqLen)
     */
    public record Options(int seqLen, int maxWindows, int stride) {
        public Options {
            if (seqLen < 2) throw new IllegalArgumentException("perplexity: seqLen must be at least 2, got " + seqLen);
            if (maxWindows < 0) throw new IllegalArgumentException("perplexity: window limit must be >= 0, got " + maxWindows);
            if (stride < 0 || stride > seqLen) throw new IllegalArgumentException("perplexity: stride must be in [1, seqLen] or 0, got " + stride);
        }

        public static Options standard(int seqLen) { return new Options(seqLen, 0, 0); }
    }

    /** ppl, its log (mean NLL in nats), the tokens scored and how the text was cut. */
    public record Result(double perplexity, double meanNll, long tokensScored, int windows, int seqLen, int stride, long datasetTokens) {}

    /** The [start, end) token ranges of the windows and, per window, the first position whose token is scored. */
    public record Window(int start, int end, int firstScored) {}

    public static List<Window> windows(int tokens, Options o) {
        List<Window> ws = new ArrayList<>();
        if (o.stride() == 0) {
            int n = tokens / o.seqLen();
            if (o.maxWindows() > 0) n = Math.min(n, o.maxWindows());
            for (int i = 0; i < n; i++) ws.add(new Window(i * o.seqLen(), (i + 1) * o.seqLen(), i * o.seqLen() + 1));
            return ws;
        }
        int prevEnd = 0;
        for (int begin = 0; begin < tokens - 1; begin += o.stride()) {
            int end = Math.min(begin + o.seqLen(), tokens);
            if (Math.max(prevEnd, begin + 1) < end) ws.add(new Window(begin, end, Math.max(prevEnd, begin + 1)));
            prevEnd = end;
            if (end == tokens || (o.maxWindows() > 0 && ws.size() == o.maxWindows())) break;
        }
        return ws;
    }

    public static Result evaluate(LlamaModel model, int[] tokens, Options o, Progress progress) {
        int cap = model.config().maxSeqLen();
        if (o.seqLen() > cap)
            throw new IllegalArgumentException("perplexity: seqLen " + o.seqLen() + " exceeds the model's context of " + cap);
        List<Window> ws = windows(tokens.length, o);
        if (ws.isEmpty())
            throw new IllegalArgumentException("perplexity: " + tokens.length + " tokens make no window of " + o.seqLen());
        double sumOfWindowMeans = 0, totalNll = 0;
        long scored = 0;
        int done = 0;
        for (Window w : ws) {
            double[] nll = tokenNll(model, Arrays.copyOfRange(tokens, w.start(), w.end()));
            double windowSum = 0;
            int count = 0;
            for (int p = w.firstScored(); p < w.end(); p++) { windowSum += nll[p - w.start() - 1]; count++; }
            totalNll += windowSum;
            scored += count;
            sumOfWindowMeans += windowSum / count;
            done++;
            double running = o.stride() == 0 ? sumOfWindowMeans / done : totalNll / scored;
            progress.status(String.format(java.util.Locale.ROOT, "ppl %.4f", Math.exp(running)));
            progress.step(1);
        }
        double mean = o.stride() == 0 ? sumOfWindowMeans / ws.size() : totalNll / scored;
        return new Result(Math.exp(mean), mean, scored, ws.size(), o.seqLen(), o.stride(), tokens.length);
    }

    /**
     * −log p(token[i+1] | token[0..i]) for i = 0 .. n−2, from one forward pass; the log-softmax is taken over each
     * row of logits in f32 and the NLLs are summed in f64 by the caller.
     */
    public static double[] tokenNll(LlamaModel model, int[] window) {
        int n = window.length;
        try (var off = Grad.off()) {
            Tensor logp = model.forward(Tensor.ofInts(window, 1, n), null).value().select(0, 0).narrow(0, 0, n - 1).logSoftmax(-1);
            int[] next = Arrays.copyOfRange(window, 1, n);
            float[] picked = logp.gather(1, Tensor.ofInts(next, n - 1, 1)).toFloatArray();
            double[] nll = new double[n - 1];
            for (int i = 0; i < n - 1; i++) nll[i] = -picked[i];
            return nll;
        }
    }
}
