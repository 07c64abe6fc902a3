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
import java.util.Set;

/**
 * A Hugging Face {@code config.json} of the LLaMA family, to and from {@link LlamaConfig}. Missing fields take the
 * defaults of transformers' LlamaConfig (num_key_value_heads = heads, head_dim = hidden/heads, rope_theta 10000,
 * rms_norm_eps 1e-6, max_position_embeddings 2048, tie_word_embeddings false). HF checkpoints order Q/K rows for
 * rotate-half RoPE, so the config's layout is {@link Rope.Layout#HALF}. Fields that would change the computation
 * in ways this model does not implement (attention or MLP biases, another activation, rope scaling other than
 * "llama3") are refused rather than ignored; a sliding attention window caps the context at the window.
 */
public final class HuggingFaceConfig {
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final Set<String> MODEL_TYPES = Set.of("llama", "mistral");

    private HuggingFaceConfig() {}

    public static LlamaConfig read(Path configJson) throws IOException {
        JsonNode root = JsonFiles.read(configJson, ReadLimits.MAX_CONFIG_JSON_BYTES, JSON);
        if (root == null || !root.isObject()) throw new ModelFormatException(configJson, "expected a JSON object");
        return parse(configJson, root);
    }

    static LlamaConfig parse(Path file, JsonNode root) throws ModelFormatException {
        String type = text(file, root, "model_type", "llama");
        if (!MODEL_TYPES.contains(type))
            throw new ModelFormatException(file, "model_type '" + type + "' is not a LLaMA-family model this loader knows " + MODEL_TYPES);
        String act = text(file, root, "hidden_act", "silu");
        if (!act.equals("silu")) throw new ModelFormatException(file, "hidden_act '" + act + "' is not supported (LLaMA's SwiGLU uses silu)");
        for (String bias : new String[]{"attention_bias", "mlp_bias"})
            if (root.path(bias).asBoolean(false)) throw new ModelFormatException(file, bias + " = true is not supported (LLaMA has no biases)");

        int dim = integer(file, root, "hidden_size", null);
        int hidden = integer(file, root, "intermediate_size", null);
        int layers = integer(file, root, "num_hidden_layers", null);
        int heads = integer(file, root, "num_attention_heads", null);
        int kvHeads = integer(file, root, "num_key_value_heads", heads);
        if (heads <= 0) throw new ModelFormatException(file, "num_attention_heads must be positive, got " + heads);
        int headDim = integer(file, root, "head_dim", dim / heads);
        int vocab = integer(file, root, "vocab_size", null);
        double eps = number(file, root, "rms_norm_eps", 1e-6);
        double theta = number(file, root, "rope_theta", 10000.0);
        boolean tied = root.path("tie_word_embeddings").asBoolean(false);
        int maxSeq = integer(file, root, "max_position_embeddings", 2048);
        // Mistral's sliding-window attention equals full causal attention up to the window, so within that many
        // positions this model is exact: cap the context there rather than compute something else beyond it
        JsonNode window = root.get("sliding_window");
        if (window != null && !window.isNull() && root.path("use_sliding_window").asBoolean(true)) {
            int w = integer(file, root, "sliding_window", null);
            if (w > 0 && w < maxSeq) maxSeq = w;
        }
        LlamaConfig.RopeScaling scaling = ropeScaling(file, root.get("rope_scaling"));
        try {
            return new LlamaConfig(dim, hidden, layers, heads, kvHeads, headDim, vocab, (float) eps, theta, scaling, Rope.Layout.HALF, tied, maxSeq);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file, e.getMessage());
        }
    }

    private static LlamaConfig.RopeScaling ropeScaling(Path file, JsonNode s) throws ModelFormatException {
        if (s == null || s.isNull()) return null;
        if (!s.isObject()) throw new ModelFormatException(file, "rope_scaling must be an object or null, got " + s);
        String type = s.has("rope_type") ? s.get("rope_type").asText() : s.path("type").asText("");
        if (type.equals("default")) return null;
        if (!type.equals("llama3"))
            throw new ModelFormatException(file, "rope_scaling type '" + type + "' is not supported (only LLaMA-3.1's \"llama3\")");
        return new LlamaConfig.RopeScaling(number(file, s, "factor", null), number(file, s, "low_freq_factor", null),
                number(file, s, "high_freq_factor", null), integer(file, s, "original_max_position_embeddings", null));
    }

    /** config.json for {@code c} as transformers writes it for LlamaForCausalLM; {@code dtype} fills torch_dtype. */
    public static ObjectNode toJson(LlamaConfig c, DType dtype) {
        ObjectNode o = JSON.createObjectNode();
        o.putArray("architectures").add("LlamaForCausalLM");
        o.put("model_type", "llama");
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
        o.put("attention_bias", false);
        o.put("mlp_bias", false);
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
