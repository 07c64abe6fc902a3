package dev.stiefel.llama.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Rope;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A Hugging Face {@code config.json} of the LLaMA family (model types llama, mistral, qwen2, qwen3), to and from
 * {@link LlamaConfig}. Missing fields take the defaults of transformers' config classes (num_key_value_heads = heads,
 * head_dim = hidden/heads, rope_theta 10000, rms_norm_eps 1e-6, max_position_embeddings 2048, tie_word_embeddings
 * false). HF checkpoints order Q/K rows for rotate-half RoPE, so the config's layout is {@link Rope.Layout#HALF}.
 *
 * <p>Every key is accounted for: it is either one of {@link #HARMLESS} (provenance, generation defaults, training-only
 * settings: nothing the forward pass computes), or read and implemented, or refused with an error naming it. RoPE
 * settings are read in both forms transformers writes: version 5's {@code rope_parameters} object and version 4's
 * top-level {@code rope_theta} with {@code rope_scaling}. A key this reader does not know is refused, since it may
 * change the mathematics (docs/llama.md lists what each key does).
 */
public final class HuggingFaceConfig {
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** The model types read, and the architecture of each. */
    private static final Map<String, LlamaConfig.Architecture> MODEL_TYPES = Map.of(
            "llama", LlamaConfig.Architecture.LLAMA, "mistral", LlamaConfig.Architecture.LLAMA,
            "qwen2", LlamaConfig.Architecture.QWEN2, "qwen3", LlamaConfig.Architecture.QWEN3);

    /**
     * Keys that change nothing the forward pass computes: where the file came from, token ids and defaults used by
     * generation, settings that act only while training in transformers (dropout, initialisation, tensor-parallel
     * splitting of the same products) and transformers' own bookkeeping. Keys starting with '_' are bookkeeping too.
     */
    static final Set<String> HARMLESS = Set.of(
            "architectures", "model_type", "transformers_version", "dtype", "torch_dtype", "use_cache",
            "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id", "decoder_start_token_id", "tokenizer_class",
            "initializer_range", "attention_dropout", "pretraining_tp",
            "max_length", "min_length", "do_sample", "temperature", "top_k", "top_p", "repetition_penalty", "num_beams",
            "return_dict", "output_attentions", "output_hidden_states", "torchscript", "is_decoder", "is_encoder_decoder",
            "id2label", "label2id", "problem_type", "keys_to_ignore_at_inference", "base_model_tp_plan", "base_model_pp_plan");

    /** Keys read and implemented for every model type (each checked or used below). */
    private static final Set<String> COMMON = Set.of(
            "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
            "vocab_size", "rms_norm_eps", "hidden_act", "tie_word_embeddings", "max_position_embeddings",
            "rope_parameters", "rope_theta", "rope_scaling");

    /** Keys read for one model type only (transformers' config class of that type has them). */
    private static final Map<String, Set<String>> TYPE_KEYS = Map.of(
            "llama", Set.of("attention_bias", "mlp_bias"),
            "mistral", Set.of("sliding_window"),
            "qwen2", Set.of("sliding_window", "use_sliding_window", "max_window_layers", "layer_types"),
            "qwen3", Set.of("attention_bias", "sliding_window", "use_sliding_window", "max_window_layers", "layer_types"));

    /** Keys a rope_parameters / rope_scaling object may hold, by rope type. */
    private static final Map<String, Set<String>> ROPE_KEYS = Map.of(
            "default", Set.of("rope_type", "type", "rope_theta"),
            "llama3", Set.of("rope_type", "type", "rope_theta", "factor", "low_freq_factor", "high_freq_factor",
                    "original_max_position_embeddings"));

    /** Keys with a known meaning this model does not compute, with the reason given when they are refused. */
    private static final Map<String, String> REFUSED = Map.of(
            "auto_map", "the model runs custom modelling code, which may compute something else than the architecture named",
            "partial_rotary_factor", "partial rotary embeddings are not implemented",
            "pruned_heads", "pruned attention heads are not implemented");

    private HuggingFaceConfig() {}

    /** The GPTQ settings of a config.json with a quantization_config, null without one; any other form is refused. */
    static GptqCheckpoint.Settings gptq(Path file, JsonNode root) throws ModelFormatException {
        JsonNode q = root.get("quantization_config");
        return q == null || q.isNull() ? null : GptqCheckpoint.parseSettings(file, q);
    }

    static GptqCheckpoint.Settings readGptq(Path configJson) throws IOException {
        return gptq(configJson, JsonFiles.read(configJson, ReadLimits.MAX_CONFIG_JSON_BYTES, JSON));
    }

    /** The {@value PackedCheckpoint#SECTION} object of a packed checkpoint's config.json, null for any other checkpoint. */
    public static JsonNode readQuantization(Path configJson) throws IOException {
        JsonNode root = JsonFiles.read(configJson, ReadLimits.MAX_CONFIG_JSON_BYTES, JSON);
        return root == null ? null : PackedCheckpoint.section(root);
    }

    public static LlamaConfig read(Path configJson) throws IOException {
        JsonNode root = JsonFiles.read(configJson, ReadLimits.MAX_CONFIG_JSON_BYTES, JSON);
        if (root == null || !root.isObject()) throw new ModelFormatException(configJson, "expected a JSON object");
        return parse(configJson, root);
    }

    static LlamaConfig parse(Path file, JsonNode root) throws ModelFormatException {
        String type = text(file, root, "model_type", "llama");
        LlamaConfig.Architecture arch = MODEL_TYPES.get(type);
        if (arch == null)
            throw new ModelFormatException(file, "model_type '" + type + "' is not a LLaMA-family model this loader knows " + new TreeSet<>(MODEL_TYPES.keySet()));
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (HARMLESS.contains(key) || key.startsWith("_") || COMMON.contains(key) || TYPE_KEYS.get(type).contains(key)) continue;
            // a GPTQ checkpoint's linears are dequantized on load (GptqCheckpoint); every other quantization is refused there
            if (key.equals("quantization_config")) { gptq(file, root); continue; }
            // a Stiefel packed checkpoint: its matrices are read as codes (PackedCheckpoint), its section handed on
            if (key.equals(PackedCheckpoint.SECTION)) { PackedCheckpoint.packing(file, root.get(key)); continue; }
            if (REFUSED.containsKey(key) && !root.get(key).isNull())
                throw new ModelFormatException(file, key + " is not supported: " + REFUSED.get(key));
            if (REFUSED.containsKey(key)) continue;
            throw new ModelFormatException(file, "key '" + key + "' is not known for model_type '" + type
                    + "'; it may change the forward pass, so the checkpoint is refused (see docs/llama.md for the keys read)");
        }
        String act = text(file, root, "hidden_act", "silu");
        if (!act.equals("silu")) throw new ModelFormatException(file, "hidden_act '" + act + "' is not supported (LLaMA's SwiGLU uses silu)");
        // LLaMA's and Qwen3's attention_bias puts a bias on o_proj as well, which this model does not have
        for (String bias : new String[]{"attention_bias", "mlp_bias"})
            if (root.path(bias).asBoolean(false))
                throw new ModelFormatException(file, bias + " = true is not supported (biases exist only on Qwen2's q/k/v projections)");

        int dim = integer(file, root, "hidden_size", null);
        int hidden = integer(file, root, "intermediate_size", null);
        int layers = integer(file, root, "num_hidden_layers", null);
        int heads = integer(file, root, "num_attention_heads", null);
        int kvHeads = integer(file, root, "num_key_value_heads", heads);
        if (heads <= 0) throw new ModelFormatException(file, "num_attention_heads must be positive, got " + heads);
        int headDim = integer(file, root, "head_dim", dim / heads);
        int vocab = integer(file, root, "vocab_size", null);
        double eps = number(file, root, "rms_norm_eps", 1e-6);
        boolean tied = root.path("tie_word_embeddings").asBoolean(false);
        int maxSeq = integer(file, root, "max_position_embeddings", 2048);
        // Sliding-window attention equals full causal attention up to the window, so within that many positions this
        // model is exact: cap the context there rather than compute something else beyond it
        Integer window = slidingWindow(file, root, type, layers);
        if (window != null && window > 0 && window < maxSeq) maxSeq = window;
        RopeSettings rope = rope(file, root);
        try {
            return new LlamaConfig(dim, hidden, layers, heads, kvHeads, headDim, vocab, (float) eps, rope.theta(), rope.scaling(),
                    Rope.Layout.HALF, tied, maxSeq, arch);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file, e.getMessage());
        }
    }

    /**
     * The attention window of the layers that use one, or null when every layer attends to the whole prefix.
     * Mistral: sliding_window applies to every layer. Qwen2/Qwen3 (transformers' Qwen2Config): the window exists only
     * with use_sliding_window (default false), and applies to the layers layer_types marks "sliding_attention" or,
     * without layer_types, to layers from max_window_layers (default 28) on.
     */
    private static Integer slidingWindow(Path file, JsonNode root, String type, int layers) throws ModelFormatException {
        JsonNode w = root.get("sliding_window");
        if (w == null || w.isNull()) return null;
        int window = integer(file, root, "sliding_window", null);
        if (type.equals("mistral")) return window;
        JsonNode use = root.get("use_sliding_window");
        if (use == null || use.isNull() || !use.asBoolean(false)) return null;
        JsonNode kinds = root.get("layer_types");
        if (kinds != null && !kinds.isNull()) {
            if (!kinds.isArray() || kinds.size() != layers)
                throw new ModelFormatException(file, "layer_types must be a list of " + layers + " entries, got " + kinds);
            boolean any = false;
            for (int i = 0; i < kinds.size(); i++) {
                String k = kinds.get(i).asText();
                if (!k.equals("full_attention") && !k.equals("sliding_attention"))
                    throw new ModelFormatException(file, "layer_types[" + i + "] is '" + kinds.get(i) + "'; expected full_attention or sliding_attention");
                any |= k.equals("sliding_attention");
            }
            return any ? window : null;
        }
        return integer(file, root, "max_window_layers", 28) < layers ? window : null;
    }

    private record RopeSettings(double theta, LlamaConfig.RopeScaling scaling) {}

    /**
     * RoPE's base and scaling, from transformers 5's {@code rope_parameters} ({@code rope_theta}, {@code rope_type} and
     * the scaling fields in one object) or transformers 4's top-level {@code rope_theta} and {@code rope_scaling}. When
     * both forms are present they must agree.
     */
    private static RopeSettings rope(Path file, JsonNode root) throws ModelFormatException {
        JsonNode params = root.get("rope_parameters");
        RopeSettings v4 = new RopeSettings(number(file, root, "rope_theta", 10000.0), ropeScaling(file, "rope_scaling", root.get("rope_scaling")));
        JsonNode scalingTheta = root.path("rope_scaling").get("rope_theta");
        if (scalingTheta != null && !scalingTheta.isNull() && number(file, root.get("rope_scaling"), "rope_theta", null) != v4.theta())
            throw new ModelFormatException(file, "rope_scaling.rope_theta " + scalingTheta + " contradicts rope_theta " + v4.theta());
        if (params == null || params.isNull()) return v4;
        if (!params.isObject()) throw new ModelFormatException(file, "rope_parameters must be an object, got " + params);
        RopeSettings v5 = new RopeSettings(number(file, params, "rope_theta", 10000.0), ropeScaling(file, "rope_parameters", params));
        if (root.hasNonNull("rope_theta") && v4.theta() != v5.theta())
            throw new ModelFormatException(file, "rope_theta " + v4.theta() + " contradicts rope_parameters.rope_theta " + v5.theta());
        if (root.hasNonNull("rope_scaling") && !java.util.Objects.equals(v4.scaling(), v5.scaling()))
            throw new ModelFormatException(file, "rope_scaling " + root.get("rope_scaling") + " contradicts rope_parameters " + params);
        return v5;
    }

    private static LlamaConfig.RopeScaling ropeScaling(Path file, String where, JsonNode s) throws ModelFormatException {
        if (s == null || s.isNull()) return null;
        if (!s.isObject()) throw new ModelFormatException(file, where + " must be an object or null, got " + s);
        String type = s.has("rope_type") ? s.get("rope_type").asText() : s.path("type").asText("default");
        Set<String> allowed = ROPE_KEYS.get(type);
        if (allowed == null)
            throw new ModelFormatException(file, where + " rope type '" + type + "' is not supported (only \"default\" and LLaMA-3.1's \"llama3\")");
        for (Iterator<String> it = s.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!allowed.contains(key))
                throw new ModelFormatException(file, where + "." + key + " is not known for rope type '" + type + "'; it may change RoPE, so it is refused");
        }
        if (type.equals("default")) return null;
        return new LlamaConfig.RopeScaling(number(file, s, "factor", null), number(file, s, "low_freq_factor", null),
                number(file, s, "high_freq_factor", null), integer(file, s, "original_max_position_embeddings", null));
    }

    /**
     * config.json for {@code c} as transformers writes it for Llama-, Qwen2- or Qwen3ForCausalLM (RoPE in the
     * transformers-4 form, which version 5 reads too); {@code dtype} fills torch_dtype.
     */
    public static ObjectNode toJson(LlamaConfig c, DType dtype) {
        ObjectNode o = JSON.createObjectNode();
        String type = switch (c.architecture()) {
            case LLAMA -> "llama";
            case QWEN2 -> "qwen2";
            case QWEN3 -> "qwen3";
        };
        o.putArray("architectures").add(switch (c.architecture()) {
            case LLAMA -> "LlamaForCausalLM";
            case QWEN2 -> "Qwen2ForCausalLM";
            case QWEN3 -> "Qwen3ForCausalLM";
        });
        o.put("model_type", type);
        o.put("hidden_act", "silu");
        o.put("hidden_size", c.dim());
        o.put("intermediate_size", c.hiddenDim());
        o.put("num_hidden_layers", c.layers());
        o.put("num_attention_heads", c.heads());
        o.put("num_key_value_heads", c.kvHeads());
        o.put("head_dim", c.headDim());
        o.put("vocab_size", c.vocabSize());
        o.put("rms_norm_eps", Double.parseDouble(Float.toString(c.normEps()))); // the float's shortest decimal, e.g. 1e-05
        o.put("rope_theta", c.ropeTheta());
        if (c.ropeScaling() == null) o.putNull("rope_scaling");
        else {
            ObjectNode s = o.putObject("rope_scaling");
            s.put("rope_type", "llama3");
            s.put("factor", c.ropeScaling().factor());
            s.put("low_freq_factor", c.ropeScaling().lowFreqFactor());
            s.put("high_freq_factor", c.ropeScaling().highFreqFactor());
            s.put("original_max_position_embeddings", c.ropeScaling().originalMaxPositions());
        }
        o.put("tie_word_embeddings", c.tiedEmbeddings());
        o.put("max_position_embeddings", c.maxSeqLen());
        if (c.architecture() != LlamaConfig.Architecture.QWEN2) o.put("attention_bias", false); // Qwen2's q/k/v biases are not optional
        if (c.architecture() == LlamaConfig.Architecture.LLAMA) o.put("mlp_bias", false);
        o.put("torch_dtype", torchDtype(dtype));
        return o;
    }

    static String torchDtype(DType d) {
        return switch (d) {
            case F32 -> "float32";
            case F16 -> "float16";
            case BF16 -> "bfloat16";
            case I32 -> throw new IllegalArgumentException("weights cannot be stored as i32");
        };
    }

    private static String text(Path file, JsonNode o, String key, String dflt) throws ModelFormatException {
        JsonNode v = o.get(key);
        if (v == null || v.isNull()) return dflt;
        if (!v.isTextual()) throw new ModelFormatException(file, key + " must be a string, got " + v);
        return v.asText();
    }

    private static int integer(Path file, JsonNode o, String key, Integer dflt) throws ModelFormatException {
        JsonNode v = o.get(key);
        if (v == null || v.isNull()) {
            if (dflt == null) throw new ModelFormatException(file, "required field " + key + " is missing");
            return dflt;
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt()) throw new ModelFormatException(file, key + " must be an integer, got " + v);
        return v.asInt();
    }

    private static double number(Path file, JsonNode o, String key, Double dflt) throws ModelFormatException {
        JsonNode v = o.get(key);
        if (v == null || v.isNull()) {
            if (dflt == null) throw new ModelFormatException(file, "required field " + key + " is missing");
            return dflt;
        }
        if (!v.isNumber()) throw new ModelFormatException(file, key + " must be a number, got " + v);
        return v.asDouble();
    }
}
