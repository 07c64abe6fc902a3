package dev.stiefel.llama;

import dev.stiefel.tensor.Tensor;

/**
 * Keys (after RoPE and the key hook) and values (after the value hook) of every layer for the tokens seen so far,
 * so decoding one token costs one pass over the weights instead of a pass over the whole prefix.
 * Layout per layer: [batch, capacity, kvHeads, headDim].
 */
public final class KvCache {
    private final Tensor[] keys, values;
    private final int batch, capacity;
    private int length;

    public KvCache(LlamaConfig c, int batch, int capacity) {
        if (batch < 1 || capacity < 1) throw new IllegalArgumentException("kv cache: batch and capacity must be positive, got " + batch + ", " + capacity);
        this.batch = batch;
        this.capacity = capacity;
        keys = new Tensor[c.layers()];
        values = new Tensor[c.layers()];
        for (int l = 0; l < c.layers(); l++) {
            keys[l] = Tensor.zeros(batch, capacity, c.kvHeads(), c.headDim());
            values[l] = Tensor.zeros(batch, capacity, c.kvHeads(), c.headDim());
        }
    }

    /** Tokens already cached: the position the next token takes. */
    public int length() { return length; }

    public int capacity() { return capacity; }

    public int batch() { return batch; }

    /** Forgets every token (the buffers are reused). */
    public void clear() { length = 0; }

    /**
     * Forgets the tokens after the first {@code keep}: the next tokens overwrite them. Scoring several continuations
     * of one context runs the context once, then each continuation from the truncated cache.
     */
    public void truncate(int keep) {
        if (keep < 0 || keep > length) throw new IllegalArgumentException("kv cache: cannot keep " + keep + " of " + length + " tokens");
        length = keep;
    }

    /**
     * Writes layer {@code layer}'s new keys and values [batch, T, kvHeads, headDim] at position {@link #length()}
     * and returns views of everything cached for that layer, new tokens included.
     */
    Tensor[] append(int layer, Tensor k, Tensor v) {
        int t = k.size(1);
        if (k.size(0) != batch) throw new IllegalArgumentException("kv cache: batch " + k.size(0) + " for a cache of batch " + batch);
        if (length + t > capacity)
            throw new IllegalStateException("kv cache: " + length + " cached + " + t + " new tokens exceed its capacity of " + capacity);
        keys[layer].narrow(1, length, t).copyFrom(k);
        values[layer].narrow(1, length, t).copyFrom(v);
        return new Tensor[]{keys[layer].narrow(1, 0, length + t), values[layer].narrow(1, 0, length + t)};
    }

    /** Moves the write position past {@code t} tokens once every layer has appended them. */
    void advance(int t) { length += t; }
}
