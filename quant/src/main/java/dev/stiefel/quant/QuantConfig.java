package dev.stiefel.quant;

import dev.stiefel.llama.io.ggml.FileType;
import dev.stiefel.quant.GgmlTarget;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a quantized model quantizes: linear weights, the activations entering linear layers, and the K and V cache.
 * A null spec means full precision (the "16" of the shorthand). The embedding table and the output head stay in full
 * precision unless asked for, as the papers do.
 *
 * @param weight            every linear weight of the blocks (and of the head / embedding when those flags are set)
 * @param activation        the input of every linear layer of the blocks (and of the head when quantizeHead)
 * @param key               keys after RoPE, as written into the KV cache
 * @param value             values, as written into the KV cache
 * @param quantizeEmbedding quantize the embedding table with the weight spec
 * @param quantizeHead      quantize the output head's weight and input
 * @param ggml              null, or llama.cpp's grids: every weight (embedding and head included) is quantized on the
 *                          ggml type its file type assigns it, and {@code weight} only approximates that grid for code
 *                          that reads a spec's bits
 */
public record QuantConfig(QuantSpec weight, QuantSpec activation, QuantSpec key, QuantSpec value,
                          boolean quantizeEmbedding, boolean quantizeHead, GgmlTarget ggml) {

    public QuantConfig(QuantSpec weight, QuantSpec activation, QuantSpec key, QuantSpec value, boolean quantizeEmbedding, boolean quantizeHead) {
        this(weight, activation, key, value, quantizeEmbedding, quantizeHead, null);
    }

    /** Weights on llama.cpp's grids of {@code type} (embedding and head too, as llama-quantize does), nothing else quantized. */
    public static QuantConfig ggml(FileType type) {
        GgmlTarget t = new GgmlTarget(type);
        return new QuantConfig(t.approximateSpec(), null, null, null, true, true, t);
    }

    /** Nothing quantized. */
    public static final QuantConfig FP = new QuantConfig(null, null, null, null, false, false);

    private static final Pattern SHORTHAND = Pattern.compile("w(\\d+)a(\\d+)(?:kv(\\d+)|k(\\d+)v(\\d+))?(?:g(\\d+))?");

    /**
     * Reads the usual shorthand: {@code W4A16}, {@code W3A16}, {@code W2A16 g128}, {@code W8A8}, {@code W6A6},
     * {@code W4A8}, {@code W4A4KV16}, {@code W4A4KV4}, {@code W3A3K2V2} (16 = full precision; KV absent = 16).
     * Defaults, as QuaRot and GPTQ configure them: weights asymmetric per output channel (groups of g input channels
     * with {@code gN}); activations asymmetric, dynamic, per token; K and V asymmetric, dynamic, per token and head.
     */
    public static QuantConfig parse(String shorthand) {
        FileType ggml = FileType.parse(shorthand);
        if (ggml != null) return ggml(ggml);
        String s = shorthand.trim().toLowerCase(Locale.ROOT).replaceAll("\\s+", "");
        Matcher m = SHORTHAND.matcher(s);
        if (!m.matches())
            throw new IllegalArgumentException("quant config '" + shorthand
                    + "': expected W<bits>A<bits>[KV<bits> | K<bits>V<bits>][ g<group>], e.g. W4A16 g128, W4A4KV4, W3A3K2V2, or a llama.cpp type "
                    + java.util.Arrays.toString(FileType.values()));
        int w = bits(m.group(1), "weight", shorthand), a = bits(m.group(2), "activation", shorthand);
        int k = m.group(3) != null ? bits(m.group(3), "KV", shorthand) : m.group(4) != null ? bits(m.group(4), "K", shorthand) : 16;
        int v = m.group(3) != null ? k : m.group(5) != null ? bits(m.group(5), "V", shorthand) : 16;
        int g = m.group(6) != null ? Integer.parseInt(m.group(6)) : 0;
        if (m.group(6) != null && g < 1) throw new IllegalArgumentException("quant config '" + shorthand + "': group size must be positive");
        return new QuantConfig(w == 16 ? null : QuantSpec.weights(w, false, g), a == 16 ? null : QuantSpec.activations(a, false, 0),
                k == 16 ? null : QuantSpec.kv(k, false, 0), v == 16 ? null : QuantSpec.kv(v, false, 0), false, false);
    }

    private static int bits(String digits, String what, String text) {
        int b = Integer.parseInt(digits);
        if (b != 16 && (b < 2 || b > 8))
            throw new IllegalArgumentException("quant config '" + text + "': " + what + " bits must be 2..8 or 16 (full precision), got " + b);
        return b;
    }

    public QuantConfig withWeight(QuantSpec s) { return new QuantConfig(s, activation, key, value, quantizeEmbedding, quantizeHead, ggml); }

    public QuantConfig withActivation(QuantSpec s) { return new QuantConfig(weight, s, key, value, quantizeEmbedding, quantizeHead, ggml); }

    public QuantConfig withKv(QuantSpec k, QuantSpec v) { return new QuantConfig(weight, activation, k, v, quantizeEmbedding, quantizeHead, ggml); }

    public QuantConfig withEmbeddingAndHead(boolean embedding, boolean head) { return new QuantConfig(weight, activation, key, value, embedding, head, ggml); }

    /** The weight spec with another clipping (RTN with the clip search, for instance); no-op without weights. */
    public QuantConfig withWeightClipping(QuantSpec.Clipping c) { return weight == null ? this : withWeight(weight.withClipping(c)); }

    /** K and V in groups of {@code g} features across heads (QuaRot's k_groupsize), or per head with 0. */
    public QuantConfig withKvGroup(int g) {
        return withKv(key == null ? null : QuantSpec.kv(key.bits(), key.symmetric(), g).withClipping(key.clipping()),
                value == null ? null : QuantSpec.kv(value.bits(), value.symmetric(), g).withClipping(value.clipping()));
    }

    /** The shorthand this config corresponds to in bits, e.g. {@code W4A4KV4 g128} (specs' details aside). */
    public String shorthand() {
        if (ggml != null) return ggml.fileType().name() + (activation != null || key != null || value != null ? "+A" + bitsOf(activation) : "");
        String s = "W" + bitsOf(weight) + "A" + bitsOf(activation);
        if (key != null || value != null) s += bitsOf(key) == bitsOf(value) ? "KV" + bitsOf(key) : "K" + bitsOf(key) + "V" + bitsOf(value);
        if (weight != null && weight.groupSize() > 0) s += " g" + weight.groupSize();
        return s;
    }

    private static int bitsOf(QuantSpec s) { return s == null ? 16 : s.bits(); }

    private static String str(QuantSpec s) { return s == null ? "fp" : s.toString(); }

    /** Every setting, for reports: shorthand, then one line per quantized tensor kind. */
    public Map<String, Object> describe() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("shorthand", shorthand());
        m.put("weights", ggml != null ? "llama.cpp " + ggml.fileType() + " grids (" + ggml.fileType().defaultType() + " by default)" : str(weight));
        m.put("activations", str(activation));
        m.put("k_cache", str(key));
        m.put("v_cache", str(value));
        m.put("embedding", quantizeEmbedding ? str(weight) : "fp");
        m.put("head", quantizeHead ? "weights " + str(weight) + "; input " + str(activation) : "fp");
        return m;
    }

    @Override public String toString() {
        return shorthand() + ": weights " + (ggml != null ? "llama.cpp " + ggml.fileType() : str(weight)) + "; activations " + str(activation) + "; K " + str(key) + "; V " + str(value)
                + (quantizeEmbedding ? "; embedding quantized" : "") + (quantizeHead ? "; head quantized" : "");
    }
}
