package dev.stiefel.llama.io;

import com.fasterxml.jackson.databind.JsonNode;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Loads a Hugging Face LLaMA checkpoint directory: {@code config.json} plus either {@code model.safetensors} or
 * the shards listed in {@code model.safetensors.index.json}. Tensors are memory-mapped in their stored dtype
 * (f32, f16 or bf16; norms may differ from matrices). Names follow transformers' LlamaForCausalLM:
 * {@code model.embed_tokens.weight}, {@code model.layers.N.self_attn.{q,k,v,o}_proj.weight},
 * {@code model.layers.N.mlp.{gate,up,down}_proj.weight}, {@code model.layers.N.{input,post_attention}_layernorm.weight},
 * {@code model.norm.weight} and {@code lm_head.weight} (ignored when the embeddings are tied); Qwen2 adds
 * {@code self_attn.{q,k,v}_proj.bias}, Qwen3 {@code self_attn.{q,k}_norm.weight}. Every other tensor is an error
 * (an unexpected bias would silently change the model), except RoPE's precomputed {@code rotary_emb.inv_freq}.
 */
public final class HuggingFaceLoader {
    public static final String CONFIG = "config.json";
    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";

    private HuggingFaceLoader() {}

    /** Whether {@code dir} looks like a Hugging Face checkpoint (a directory with a config.json). */
    public static boolean isCheckpoint(Path dir) { return Files.isDirectory(dir) && Files.isRegularFile(dir.resolve(CONFIG)); }

    public static LlamaWeights load(Path dir) throws IOException {
        if (!Files.isRegularFile(dir.resolve(CONFIG)))
            throw new ModelFormatException(dir, "not a Hugging Face checkpoint: " + CONFIG + " is missing");
        LlamaConfig config = HuggingFaceConfig.read(dir.resolve(CONFIG));
        JsonNode section = HuggingFaceConfig.readQuantization(dir.resolve(CONFIG));
        PackedCheckpoint.Packing packing = null;
        if (section != null) {
            packing = PackedCheckpoint.packing(dir.resolve(CONFIG), section);
            config = PackedCheckpoint.withRopeLayout(dir.resolve(CONFIG), config, section);
        }
        List<SafetensorsFile> opened = new ArrayList<>();
        try {
            Map<String, SafetensorsFile> where = openTensors(dir, opened);
            Path source = Files.isRegularFile(dir.resolve(INDEX)) ? dir.resolve(INDEX) : dir.resolve(SINGLE);
            LlamaWeights w = new Reader(config, HuggingFaceConfig.readGptq(dir.resolve(CONFIG)), packing, where, source, new LinkedHashSet<>()).read();
            return new LlamaWeights(w.config(), w.embedding(), w.layers(), w.finalNorm(),
                    config.tiedEmbeddings() ? null : w.output(), opened);
        } catch (Throwable e) { // Errors too (OutOfMemoryError, StackOverflowError): the mappings must not outlive a failed load
            opened.forEach(SafetensorsFile::close);
            throw e;
        }
    }

    /** Which open file holds each tensor, from the index when there is one, else from the single file. */
    private static Map<String, SafetensorsFile> openTensors(Path dir, List<SafetensorsFile> opened) throws IOException {
        Map<String, SafetensorsFile> where = new LinkedHashMap<>();
        Path index = dir.resolve(INDEX);
        if (Files.isRegularFile(index)) {
            Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
            for (Map.Entry<String, String> e : readWeightMap(index).entrySet()) {
                String shard = e.getValue();
                // a plain file name: no separator, and nothing Path would refuse (a NUL) or resolve to the directory itself
                if (shard.isEmpty() || shard.contains("/") || shard.contains("\\") || shard.indexOf('\0') >= 0
                        || !dir.normalize().equals(dir.resolve(shard).normalize().getParent()))
                    throw new ModelFormatException(index, "tensor '" + e.getKey() + "' is mapped to '" + shard + "', which is not a file of this directory");
                Path p = dir.resolve(shard);
                SafetensorsFile f = shards.get(shard);
                if (f == null) {
                    if (!Files.isRegularFile(p)) throw new ModelFormatException(index, "tensor '" + e.getKey() + "' is mapped to shard " + shard + ", which does not exist");
                    f = SafetensorsFile.open(p);
                    opened.add(f);
                    shards.put(shard, f);
                }
                if (!f.contains(e.getKey()))
                    throw new ModelFormatException(f.path(), "tensor '" + e.getKey() + "' is missing, though " + INDEX + " maps it to this shard");
                where.put(e.getKey(), f);
            }
            return where;
        }
        Path single = dir.resolve(SINGLE);
        if (!Files.isRegularFile(single)) {
            String hint = Files.exists(dir.resolve("pytorch_model.bin")) || Files.exists(dir.resolve("pytorch_model.bin.index.json"))
                    ? " (pytorch_model.bin is a pickle, which is not read here: convert it to safetensors)" : "";
            throw new ModelFormatException(dir, "neither " + SINGLE + " nor " + INDEX + " is present" + hint);
        }
        SafetensorsFile f = SafetensorsFile.open(single);
        opened.add(f);
        for (SafetensorsFile.Entry e : f.entries()) where.put(e.name(), f);
        return where;
    }

    private static Map<String, String> readWeightMap(Path index) throws IOException {
        JsonNode root = JsonFiles.read(index, ReadLimits.MAX_CONFIG_JSON_BYTES, HuggingFaceConfig.JSON);
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) throw new ModelFormatException(index, "expected an object with a weight_map");
        Map<String, String> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
            var f = it.next();
            if (!f.getValue().isTextual()) throw new ModelFormatException(index, "weight_map entry '" + f.getKey() + "' must name a file, got " + f.getValue());
            out.put(f.getKey(), f.getValue().asText());
        }
        return out;
    }

    /** Collects the named tensors, checking each shape against the config. */
    private record Reader(LlamaConfig c, GptqCheckpoint.Settings gptq, PackedCheckpoint.Packing packing, Map<String, SafetensorsFile> where,
                          Path source, Set<String> used) {

        LlamaWeights read() throws ModelFormatException {
            Tensor emb = get("model.embed_tokens.weight", c.vocabSize(), c.dim());
            List<LlamaWeights.Layer> layers = new ArrayList<>();
            boolean bias = c.architecture().qkvBias(), qkNorm = c.architecture().qkNorm();
            for (int l = 0; l < c.layers(); l++) {
                String p = "model.layers." + l + ".";
                layers.add(new LlamaWeights.Layer(
                        get(p + "input_layernorm.weight", c.dim()),
                        get(p + "self_attn.q_proj.weight", c.qDim(), c.dim()),
                        get(p + "self_attn.k_proj.weight", c.kvDim(), c.dim()),
                        get(p + "self_attn.v_proj.weight", c.kvDim(), c.dim()),
                        get(p + "self_attn.o_proj.weight", c.dim(), c.qDim()),
                        get(p + "post_attention_layernorm.weight", c.dim()),
                        get(p + "mlp.gate_proj.weight", c.hiddenDim(), c.dim()),
                        get(p + "mlp.up_proj.weight", c.hiddenDim(), c.dim()),
                        get(p + "mlp.down_proj.weight", c.dim(), c.hiddenDim()),
                        bias ? get(p + "self_attn.q_proj.bias", c.qDim()) : null,
                        bias ? get(p + "self_attn.k_proj.bias", c.kvDim()) : null,
                        bias ? get(p + "self_attn.v_proj.bias", c.kvDim()) : null,
                        qkNorm ? get(p + "self_attn.q_norm.weight", c.headDim()) : null,
                        qkNorm ? get(p + "self_attn.k_norm.weight", c.headDim()) : null));
            }
            Tensor norm = get("model.norm.weight", c.dim());
            Tensor out = c.tiedEmbeddings() ? null : get("lm_head.weight", c.vocabSize(), c.dim());
            if (c.tiedEmbeddings()) used.add("lm_head.weight");
            List<String> unused = new ArrayList<>();
            for (String name : where.keySet())
                if (!used.contains(name) && !name.endsWith("rotary_emb.inv_freq") && !(packing != null && name.startsWith(PackedCheckpoint.TENSOR_PREFIX)))
                    unused.add(name); // (a packed checkpoint's section tensors are read with the section)
            if (!unused.isEmpty())
                throw new ModelFormatException(where.get(unused.getFirst()).path(), "tensors a " + c.architecture() + " model does not have: " + unused);
            return new LlamaWeights(c, emb, layers, norm, out, List.of());
        }

        Tensor get(String name, int... shape) throws ModelFormatException {
            if (gptq != null && name.endsWith("_proj.weight") && !where.containsKey(name)) { // a GPTQ linear: its four tensors, dequantized
                String prefix = name.substring(0, name.length() - ".weight".length());
                SafetensorsFile f = where.get(prefix + ".qweight");
                if (f == null) throw new ModelFormatException(source, "tensor '" + name + "' is missing, and so is its GPTQ form '" + prefix + ".qweight'");
                used.addAll(GptqCheckpoint.tensorNames(prefix));
                return GptqCheckpoint.read(f, prefix, gptq, shape[0], shape[1]);
            }
            if (packing != null && shape.length == 2 && PackedCheckpoint.isPacked(where, name)) { // a packed matrix: its codes, mapped
                used.addAll(PackedCheckpoint.tensorNames(name, packing));
                return PackedCheckpoint.read(where, name, packing, shape[0], shape[1]);
            }
            SafetensorsFile f = where.get(name);
            if (f == null) throw new ModelFormatException(source, "tensor '" + name + "' is missing");
            SafetensorsFile.Entry e = f.entry(name);
            if (!Arrays.equals(e.shape(), shape))
                throw new ModelFormatException(f.path(), "tensor '" + name + "' at offset " + f.fileOffset(e) + " has shape " + Shape.str(e.shape())
                        + ", but config.json needs " + Shape.str(shape));
            if (e.dtype().tensorDType() == null || !e.dtype().tensorDType().isFloating())
                throw new ModelFormatException(f.path(), "tensor '" + name + "' at offset " + f.fileOffset(e) + " is " + e.dtype()
                        + "; weights must be F32, F16 or BF16");
            used.add(name);
            return f.tensor(name);
        }
    }
}
