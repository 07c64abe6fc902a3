package dev.stiefel.llama.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.tensor.Half;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Hugging Face checkpoints in the GPTQ format ("checkpoint_format: gptq", the v1 format AutoGPTQ, GPTQModel,
 * transformers' GPTQ integration and vLLM load). Each quantized linear {@code W [out, in]} named {@code P.weight} is
 * stored as four tensors (AutoGPTQ's {@code QuantLinear.pack}, GPTQModel's {@code PackableQuantLinear}):
 * <ul>
 *   <li>{@code P.qweight} I32 [in·bits/32, out]: the unsigned codes q ∈ [0, 2^bits), packed along the input dim:
 *       word (i / (32/bits), o) holds q[o][i] at bit {@code bits · (i mod 32/bits)} (little end first);</li>
 *   <li>{@code P.qzeros} I32 [groups, out·bits/32]: the zero points packed along the output dim the same way, each
 *       stored as <b>zero − 1</b> (the v1 convention: loaders add 1 back; GPTQModel's v2 format stores the zero
 *       itself). A zero of 0 would be stored as −1 and read back as 2^bits, so it is refused;</li>
 *   <li>{@code P.scales} F16 [groups, out];</li>
 *   <li>{@code P.g_idx} I32 [in]: the group of each input column, i / group_size (no act-order).</li>
 * </ul>
 * The weight is W[o][i] = (q − zero) · scale for the column's group; symmetric grids have zero = 2^(bits−1).
 * {@code config.json} carries {@code quantization_config = {quant_method: gptq, bits, group_size (−1: one group per
 * row), sym, desc_act: false, checkpoint_format: gptq}}. Everything else (norms, embedding, head, biases) is stored
 * as {@link HuggingFaceWriter} stores it. This writer stores exactly the codes, f16 scales and zeros it is given;
 * dequantizing in f32 ({@link #dequantize}) gives (q − z) · s with s the f16 scale widened to f32.
 */
public final class GptqCheckpoint {
    /** The 4- and 8-bit GPTQ formats vLLM and transformers run; 2 and 3 bits exist in AutoGPTQ but not here. */
    public static final java.util.Set<Integer> BITS = java.util.Set.of(4, 8);

    private GptqCheckpoint() {}

    /** A checkpoint's quantization_config: group size 0 means one group per row (written as −1). */
    public record Settings(int bits, int groupSize, boolean symmetric) {
        public Settings {
            if (!BITS.contains(bits)) throw new IllegalArgumentException("gptq checkpoint: bits must be 4 or 8, not " + bits);
            if (groupSize < 0) throw new IllegalArgumentException("gptq checkpoint: group size must be ≥ 0 (0: per channel), not " + groupSize);
        }

        int perWord() { return 32 / bits; }

        int groups(int in) { return groupSize == 0 ? 1 : (in + groupSize - 1) / groupSize; }

        int groupOf(int i) { return groupSize == 0 ? 0 : i / groupSize; }

        ObjectNode toJson() {
            ObjectNode q = HuggingFaceConfig.JSON.createObjectNode();
            q.put("quant_method", "gptq").put("bits", bits).put("group_size", groupSize == 0 ? -1 : groupSize)
                    .put("sym", symmetric).put("desc_act", false).put("checkpoint_format", "gptq");
            return q;
        }
    }

    /**
     * One quantized linear [out, in]: unsigned codes row-major [out, in], scales (each exactly an f16 value) and
     * unsigned zero points row-major [out, groups].
     */
    public record Linear(int out, int in, int[] codes, float[] scales, int[] zeros) {}

    /** The keys of quantization_config this reader understands, and the only values it accepts for the fixed ones. */
    private static final java.util.Set<String> KEYS = java.util.Set.of(
            "quant_method", "bits", "group_size", "sym", "desc_act", "checkpoint_format", "static_groups", "true_sequential",
            "damp_percent", "damp_auto_increment", "model_name_or_path", "model_file_base_name", "tokenizer", "dataset",
            "use_exllama", "exllama_config", "use_cuda_fp16", "max_input_length", "cache_block_outputs", "modules_in_block_to_quantize",
            "module_name_preceding_first_block", "batch_size", "pad_token_id", "backend", "meta", "lm_head", "mse");

    /**
     * The settings of a quantization_config this reader loads, or an error naming what it does not: only
     * quant_method gptq, bits 4 or 8, desc_act false, checkpoint_format gptq (or absent), quantized lm_head refused.
     * Keys such as damp_percent or dataset describe how it was made and change nothing the file computes.
     */
    static Settings parseSettings(Path file, JsonNode q) throws ModelFormatException {
        if (q == null || !q.isObject()) throw new ModelFormatException(file, "quantization_config must be an object");
        for (var it = q.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!KEYS.contains(k)) throw new ModelFormatException(file, "quantization_config key '" + k + "' is not known; only GPTQ checkpoints are read");
        }
        String method = q.path("quant_method").asText("");
        if (!method.equals("gptq"))
            throw new ModelFormatException(file, "quantization_config.quant_method '" + method + "' is not supported: only gptq checkpoints are read (weights dequantized on load)");
        String format = q.path("checkpoint_format").asText("gptq");
        if (!format.equals("gptq"))
            throw new ModelFormatException(file, "quantization_config.checkpoint_format '" + format + "' is not supported (only gptq, the v1 zero-minus-one format)");
        if (q.path("desc_act").asBoolean(false))
            throw new ModelFormatException(file, "quantization_config.desc_act = true (act-order) is not supported");
        if (q.path("lm_head").asBoolean(false))
            throw new ModelFormatException(file, "quantization_config.lm_head = true (a quantized head) is not supported");
        if (!q.path("bits").isInt() || !BITS.contains(q.get("bits").asInt()))
            throw new ModelFormatException(file, "quantization_config.bits must be 4 or 8, got " + q.get("bits"));
        if (!q.path("group_size").isInt() || (q.get("group_size").asInt() < 1 && q.get("group_size").asInt() != -1))
            throw new ModelFormatException(file, "quantization_config.group_size must be a positive integer or -1, got " + q.get("group_size"));
        if (!q.path("sym").isBoolean()) throw new ModelFormatException(file, "quantization_config.sym must be true or false, got " + q.get("sym"));
        int g = q.get("group_size").asInt();
        return new Settings(q.get("bits").asInt(), g == -1 ? 0 : g, q.get("sym").asBoolean());
    }

    // ------------------------------------------------------------ packing (one function per tensor)

    /** qweight: codes [out, in] packed along in, 32/bits codes per little-endian int32 word, as int32 [in·bits/32, out]. */
    static int[] packQweight(Settings s, Linear l) {
        int per = s.perWord(), rows = l.in() / per;
        int[] words = new int[rows * l.out()];
        for (int o = 0; o < l.out(); o++)
            for (int i = 0; i < l.in(); i++)
                words[(i / per) * l.out() + o] |= l.codes()[o * l.in() + i] << (s.bits() * (i % per));
        return words;
    }

    /** qzeros: (zero − 1) [groups, out] packed along out, as int32 [groups, out·bits/32]. */
    static int[] packQzeros(Settings s, Linear l, int groups) {
        int per = s.perWord(), cols = l.out() / per, mask = (1 << s.bits()) - 1;
        int[] words = new int[groups * cols];
        for (int g = 0; g < groups; g++)
            for (int o = 0; o < l.out(); o++)
                words[g * cols + o / per] |= ((l.zeros()[o * groups + g] - 1) & mask) << (s.bits() * (o % per));
        return words;
    }

    /** The weight [out, in] in f32: (q − (stored zero + 1)) · scale, q and zero unpacked as {@link #packQweight} packed them. */
    static float[] dequantize(Settings s, int out, int in, int[] qweight, int[] qzeros, short[] scales, int[] gIdx, int groups) {
        int per = s.perWord(), mask = (1 << s.bits()) - 1, zcols = out / per;
        float[] w = new float[out * in];
        for (int o = 0; o < out; o++)
            for (int i = 0; i < in; i++) {
                int g = gIdx[i];
                int q = (qweight[(i / per) * out + o] >>> (s.bits() * (i % per))) & mask;
                int z = ((qzeros[g * zcols + o / per] >>> (s.bits() * (o % per))) & mask) + 1;
                w[o * in + i] = (q - z) * Half.f16ToFloat(scales[g * out + o]);
            }
        return w;
    }

    // ------------------------------------------------------------ writing

    /**
     * Writes the directory: {@code w}'s unquantized tensors as {@link HuggingFaceWriter} names them, each linear of
     * {@code linears} (keyed by its weight name, e.g. {@code model.layers.0.self_attn.q_proj.weight}) in its place as
     * the four GPTQ tensors, and config.json with the quantization_config. {@code w} must be in rotate-half RoPE
     * order (the codes are rows of that order). Refuses shapes the format cannot hold.
     */
    public static void write(LlamaWeights w, Settings s, Map<String, Linear> linears, Path dir) throws IOException {
        if (w.config().ropeLayout() != Rope.Layout.HALF)
            throw new IllegalArgumentException("gptq checkpoint: weights must be in rotate-half RoPE order (permute the codes' rows first)");
        Map<String, Tensor> named = HuggingFaceWriter.names(w);
        SafetensorsWriter out = new SafetensorsWriter().metadata("format", "pt");
        for (String name : linears.keySet())
            if (!named.containsKey(name)) throw new IllegalArgumentException("gptq checkpoint: '" + name + "' is not a tensor of this model");
        for (Map.Entry<String, Tensor> e : named.entrySet()) {
            Linear l = linears.get(e.getKey());
            if (l == null) { out.add(e.getKey(), e.getValue()); continue; }
            String p = e.getKey().substring(0, e.getKey().length() - ".weight".length());
            check(s, p, l, e.getValue().shape());
            int groups = s.groups(l.in());
            out.addRaw(p + ".qweight", SafetensorsDType.I32, new int[]{l.in() / s.perWord(), l.out()}, ints(packQweight(s, l)));
            out.addRaw(p + ".qzeros", SafetensorsDType.I32, new int[]{groups, l.out() / s.perWord()}, ints(packQzeros(s, l, groups)));
            ByteBuffer sc = ByteBuffer.allocate(2 * groups * l.out()).order(ByteOrder.LITTLE_ENDIAN);
            for (int g = 0; g < groups; g++) for (int o = 0; o < l.out(); o++) sc.putShort(Half.floatToF16(l.scales()[o * groups + g]));
            out.addRaw(p + ".scales", SafetensorsDType.F16, new int[]{groups, l.out()}, sc.array());
            int[] gIdx = new int[l.in()];
            for (int i = 0; i < l.in(); i++) gIdx[i] = s.groupOf(i);
            out.addRaw(p + ".g_idx", SafetensorsDType.I32, new int[]{l.in()}, ints(gIdx));
        }
        Files.createDirectories(dir);
        for (String stale : new String[]{HuggingFaceLoader.INDEX}) Files.deleteIfExists(dir.resolve(stale));
        out.write(dir.resolve(HuggingFaceLoader.SINGLE));
        ObjectNode config = HuggingFaceConfig.toJson(w.config(), w.embedding().dtype());
        config.set("quantization_config", s.toJson());
        byte[] bytes = (config.toPrettyString() + "\n").getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(dir.resolve(HuggingFaceLoader.CONFIG), o -> AtomicFiles.writeFully(o, ByteBuffer.wrap(bytes))); // last: it makes the directory a checkpoint
    }

    private static void check(Settings s, String p, Linear l, int[] shape) {
        if (shape[0] != l.out() || shape[1] != l.in())
            throw new IllegalArgumentException("gptq checkpoint: " + p + " is " + shape[0] + "×" + shape[1] + ", its codes " + l.out() + "×" + l.in());
        if (l.in() % s.perWord() != 0 || l.out() % s.perWord() != 0)
            throw new IllegalArgumentException("gptq checkpoint: " + p + " [" + l.out() + ", " + l.in() + "] cannot be packed: both dims must be multiples of "
                    + s.perWord() + " (" + s.bits() + "-bit codes, " + s.perWord() + " per int32)");
        int groups = s.groups(l.in()), top = (1 << s.bits()) - 1;
        if (l.codes().length != l.out() * l.in() || l.scales().length != l.out() * groups || l.zeros().length != l.out() * groups)
            throw new IllegalArgumentException("gptq checkpoint: " + p + " needs " + l.out() * l.in() + " codes and " + l.out() * groups + " scales and zeros");
        for (int c : l.codes()) if (c < 0 || c > top) throw new IllegalArgumentException("gptq checkpoint: " + p + " has code " + c + " outside [0, " + top + "]");
        for (int i = 0; i < l.zeros().length; i++) {
            int z = l.zeros()[i];
            // v1 stores zero − 1 in bits bits: a zero of 0 would wrap to 2^bits − 1 and load as 2^bits
            if (z < 1 || z > top)
                throw new IllegalArgumentException("gptq checkpoint: " + p + " row " + i / groups + " group " + i % groups + " has zero point " + z
                        + "; the v1 format (zero − 1 stored) holds 1.." + top);
            if (s.symmetric() && z != 1 << (s.bits() - 1))
                throw new IllegalArgumentException("gptq checkpoint: " + p + " is symmetric but row " + i / groups + " has zero " + z + ", not " + (1 << (s.bits() - 1)));
            float sc = l.scales()[i];
            if (!(sc > 0) || Half.f16ToFloat(Half.floatToF16(sc)) != sc)
                throw new IllegalArgumentException("gptq checkpoint: " + p + " row " + i / groups + " group " + i % groups + " has scale " + sc
                        + ", which is not a positive f16 value (the format stores f16 scales)");
        }
    }

    private static byte[] ints(int[] v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asIntBuffer().put(v);
        return b.array();
    }

    // ------------------------------------------------------------ reading

    /**
     * The weight {@code prefix.weight} [out, in] dequantized from its four GPTQ tensors in {@code f}, each checked
     * for dtype and shape against the settings; g_idx must be i / group_size (act-order files are refused).
     */
    static Tensor read(SafetensorsFile f, String prefix, Settings s, int out, int in) throws ModelFormatException {
        if (in % s.perWord() != 0 || out % s.perWord() != 0)
            throw new ModelFormatException(f.path(), prefix + " [" + out + ", " + in + "] cannot hold " + s.bits() + "-bit GPTQ codes (dims must be multiples of " + s.perWord() + ")");
        int groups = s.groups(in);
        int[] qweight = intsOf(f, prefix + ".qweight", SafetensorsDType.I32, in / s.perWord(), out);
        int[] qzeros = intsOf(f, prefix + ".qzeros", SafetensorsDType.I32, groups, out / s.perWord());
        int[] gIdx = intsOf(f, prefix + ".g_idx", SafetensorsDType.I32, in);
        for (int i = 0; i < in; i++)
            if (gIdx[i] != s.groupOf(i))
                throw new ModelFormatException(f.path(), prefix + ".g_idx[" + i + "] = " + gIdx[i] + ", expected " + s.groupOf(i) + " (act-order g_idx is not supported)");
        byte[] raw = check(f, prefix + ".scales", SafetensorsDType.F16, groups, out);
        short[] scales = new short[groups * out];
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asShortBuffer().get(scales);
        return Tensor.wrap(dequantize(s, out, in, qweight, qzeros, scales, gIdx, groups), out, in);
    }

    private static int[] intsOf(SafetensorsFile f, String name, SafetensorsDType dtype, int... shape) throws ModelFormatException {
        byte[] raw = check(f, name, dtype, shape);
        int[] v = new int[raw.length / 4];
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(v);
        return v;
    }

    private static byte[] check(SafetensorsFile f, String name, SafetensorsDType dtype, int... shape) throws ModelFormatException {
        if (!f.contains(name)) throw new ModelFormatException(f.path(), "GPTQ tensor '" + name + "' is missing");
        return f.bytes(name, dtype, shape, "the quantization_config").toArray(ValueLayout.JAVA_BYTE);
    }

    /** The names of the four tensors that stand for {@code prefix.weight}. */
    static java.util.List<String> tensorNames(String prefix) {
        return java.util.List.of(prefix + ".qweight", prefix + ".qzeros", prefix + ".scales", prefix + ".g_idx");
    }
}
