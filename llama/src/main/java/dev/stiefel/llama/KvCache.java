package dev.stiefel.llama;

import dev.stiefel.tensor.Int8Storage;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.packed.Int8Rows;

/**
 * Keys (after RoPE and the key hook) and values (after the value hook) of every layer for the tokens seen so far,
 * so decoding one token costs one pass over the weights instead of a pass over the whole prefix.
 * Layout per layer: [batch, capacity, kvHeads, headDim].
 *
 * <p>Each layer's store is made at its first append, from what the hooks handed it. Full-precision K/V are kept in
 * f32. K/V a quantizer returned as integer levels ({@link Int8Storage}: the packed runtime's KV quantizers) are kept
 * as those levels at their bit width (two per byte up to 4 bits), with one f32 scale and one zero point per row (a
 * token's head, or a token): at 4 bits and head dim 128 that is 69 bytes per row instead of 512. Attention reads them
 * decoded, (c − z)·s, the values the quantizer gave, into one f32 buffer that every layer reuses.
 */
public final class KvCache {
    private final LlamaConfig config;
    private final Store[] keys, values;
    private final int batch, capacity;
    private Tensor keyScratch, valueScratch;
    private int length;

    public KvCache(LlamaConfig c, int batch, int capacity) {
        if (batch < 1 || capacity < 1) throw new IllegalArgumentException("kv cache: batch and capacity must be positive, got " + batch + ", " + capacity);
        this.config = c;
        this.batch = batch;
        this.capacity = capacity;
        keys = new Store[c.layers()];
        values = new Store[c.layers()];
    }

    /** Tokens already cached: the position the next token takes. */
    public int length() { return length; }

    public int capacity() { return capacity; }

    public int batch() { return batch; }

    /** Bytes the layers' stores hold (the decode buffer aside). */
    public long bytes() {
        long b = 0;
        for (Store[] stores : new Store[][]{keys, values}) for (Store s : stores) if (s != null) b += s.bytes();
        return b;
    }

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
     * and returns everything cached for that layer, new tokens included, as f32 [batch, length + T, kvHeads, headDim].
     */
    Tensor[] append(int layer, Tensor k, Tensor v) {
        int t = k.size(1);
        if (k.size(0) != batch) throw new IllegalArgumentException("kv cache: batch " + k.size(0) + " for a cache of batch " + batch);
        if (length + t > capacity)
            throw new IllegalStateException("kv cache: " + length + " cached + " + t + " new tokens exceed its capacity of " + capacity);
        if (keys[layer] == null) keys[layer] = store(k);
        if (values[layer] == null) values[layer] = store(v);
        keys[layer].write(length, k);
        values[layer].write(length, v);
        if (keys[layer] instanceof LevelStore && keyScratch == null) keyScratch = Tensor.zeros(batch, capacity, config.kvHeads(), config.headDim());
        if (values[layer] instanceof LevelStore && valueScratch == null) valueScratch = Tensor.zeros(batch, capacity, config.kvHeads(), config.headDim());
        return new Tensor[]{keys[layer].read(length + t, keyScratch), values[layer].read(length + t, valueScratch)};
    }

    /** Moves the write position past {@code t} tokens once every layer has appended them. */
    void advance(int t) { length += t; }

    private Store store(Tensor first) {
        return first.storage() instanceof Int8Storage is ? new LevelStore(is.rows(), batch, capacity, config.kvHeads() * config.headDim())
                : new F32Store(Tensor.zeros(batch, capacity, config.kvHeads(), config.headDim()));
    }

    /** One layer's K or V. */
    private sealed interface Store permits F32Store, LevelStore {
        void write(int at, Tensor x);

        /** The first {@code length} tokens as f32 [batch, length, kvHeads, headDim] ({@code scratch} may hold them). */
        Tensor read(int length, Tensor scratch);

        long bytes();
    }

    private record F32Store(Tensor buffer) implements Store {
        public void write(int at, Tensor x) { buffer.narrow(1, at, x.size(1)).copyFrom(x); }

        public Tensor read(int length, Tensor scratch) { return buffer.narrow(1, 0, length); }

        public long bytes() { return 4L * buffer.numel(); }
    }

    /**
     * Levels of {@code bits} bits, per row of {@code cols} values ({@code perToken} rows per token): codes
     * c = q − qmin packed two per byte up to 4 bits (even column in the low nibble), one per byte above; a scale and a
     * zero point in code units per row.
     */
    private static final class LevelStore implements Store {
        private final int batch, capacity, cols, perToken, bits, rowBytes;
        private final byte[] codes, zeros;
        private final float[] scales;

        LevelStore(Int8Rows first, int batch, int capacity, int tokenWidth) {
            this.batch = batch;
            this.capacity = capacity;
            this.cols = first.cols();
            if (tokenWidth % cols != 0) throw new IllegalArgumentException("kv cache: rows of " + cols + " values do not tile a token of " + tokenWidth);
            this.perToken = tokenWidth / cols;
            this.bits = first.bits();
            this.rowBytes = bits <= 4 ? (cols + 1) / 2 : cols;
            long rows = (long) batch * capacity * perToken;
            codes = new byte[Math.toIntExact(rows * rowBytes)];
            scales = new float[Math.toIntExact(rows)];
            zeros = new byte[Math.toIntExact(rows)];
        }

        public void write(int at, Tensor x) {
            if (!(x.storage() instanceof Int8Storage is) || x.offset() != 0 || !x.isContiguous())
                throw new IllegalStateException("kv cache: this layer stores integer levels, and was handed " + x.storage().getClass().getSimpleName());
            Int8Rows r = is.rows();
            int t = x.size(1);
            if (r.cols() != cols || r.bits() != bits || r.rows() != batch * t * perToken)
                throw new IllegalStateException("kv cache: levels of " + r.rows() + "×" + r.cols() + " at " + r.bits() + " bits for rows of " + cols + " at " + bits);
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < t; i++)
                    for (int h = 0; h < perToken; h++) {
                        int src = (b * t + i) * perToken + h, dst = (b * capacity + at + i) * perToken + h;
                        scales[dst] = r.scales()[src];
                        zeros[dst] = (byte) r.zeroCode(src);
                        int o = dst * rowBytes;
                        if (bits <= 4) {
                            for (int j = 0; j < cols; j += 2)
                                codes[o + j / 2] = (byte) (r.code(src, j) | (j + 1 < cols ? r.code(src, j + 1) << 4 : 0));
                        } else for (int j = 0; j < cols; j++) codes[o + j] = (byte) r.code(src, j);
                    }
        }

        public Tensor read(int length, Tensor scratch) {
            float[] d = ((dev.stiefel.tensor.FloatStorage) scratch.storage()).data();
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < length; i++)
                    for (int h = 0; h < perToken; h++) {
                        int row = (b * capacity + i) * perToken + h, o = row * rowBytes, to = row * cols;
                        float s = scales[row];
                        int z = zeros[row] & 0xFF;
                        if (bits <= 4) {
                            for (int j = 0; j < cols; j++) {
                                int c = (codes[o + j / 2] >> ((j & 1) * 4)) & 0xF;
                                d[to + j] = (c - z) * s;
                            }
                        } else for (int j = 0; j < cols; j++) d[to + j] = ((codes[o + j] & 0xFF) - z) * s;
                    }
            return scratch.narrow(1, 0, length);
        }

        public long bytes() { return codes.length + 5L * scales.length; }
    }
}
