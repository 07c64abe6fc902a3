package dev.stiefel.llama;

import dev.stiefel.tensor.Tensor;

import java.util.Arrays;
import java.util.function.IntConsumer;

/**
 * Autoregressive generation: the prompt runs as one batched prefill through the KV cache, then each new token is
 * one decode step of a single token. Tokens are handed to a callback as soon as they are chosen, for streaming.
 */
public final class Generator {
    private final LlamaModel model;

    public Generator(LlamaModel model) { this.model = model; }

    /**
     * @param tokens       prompt ids followed by the generated ones
     * @param promptTokens how many of them were the prompt
     */
    public record Result(int[] tokens, int promptTokens, double prefillSeconds, double decodeSeconds) {
        public int generated() { return tokens.length - promptTokens; }

        public int[] generatedTokens() { return Arrays.copyOfRange(tokens, promptTokens, tokens.length); }

        public double prefillTokensPerSecond() { return promptTokens / prefillSeconds; }

        /** Decode steps per second (the first generated token comes from the prefill). */
        public double decodeTokensPerSecond() { return Math.max(generated() - 1, 0) / decodeSeconds; }
    }

    /**
     * Generates up to {@code maxNew} tokens after {@code prompt}, stopping early after {@code stopToken} (or never,
     * with -1) or when the model's context is full.
     */
    public Result generate(int[] prompt, int maxNew, Sampler sampler, int stopToken, IntConsumer onToken) {
        if (prompt.length == 0) throw new IllegalArgumentException("generate: the prompt needs at least one token (e.g. BOS)");
        int capacity = Math.min(model.config().maxSeqLen(), prompt.length + maxNew);
        if (prompt.length > capacity)
            throw new IllegalArgumentException("generate: prompt of " + prompt.length + " tokens exceeds the model's context of " + capacity);
        KvCache cache = model.newCache(1, capacity);
        int[] out = Arrays.copyOf(prompt, capacity);
        int n = prompt.length;

        long t0 = System.nanoTime();
        Tensor logits = model.nextLogits(Tensor.ofInts(prompt, 1, prompt.length), cache);
        long t1 = System.nanoTime();
        while (n < capacity) {
            int next = sampler.sample(logits.toFloatArray());
            out[n++] = next;
            onToken.accept(next);
            if (next == stopToken || n == capacity) break;
            logits = model.nextLogits(Tensor.ofInts(new int[]{next}, 1, 1), cache);
        }
        long t2 = System.nanoTime();
        return new Result(Arrays.copyOf(out, n), prompt.length, (t1 - t0) * 1e-9, (t2 - t1) * 1e-9);
    }
}
