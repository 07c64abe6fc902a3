package dev.stiefel.llama.io;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Writes a Hugging Face LLaMA checkpoint directory ({@code config.json} plus one safetensors file, or shards
 * {@code model-0000i-of-0000n.safetensors} with {@code model.safetensors.index.json}) that transformers and
 * {@link HuggingFaceLoader} read. Weights in interleaved RoPE order (llama2.c, GGUF) have their Q/K rows permuted
 * to rotate-half order first, as convert_llama_weights_to_hf.py does ({@link RopePermutation}), so the directory
 * holds the same model. Each file is written atomically; checkpoint files of an earlier layout left in the
 * directory (another shard count, a stale index) are removed so the directory is never ambiguous.
 */
public final class HuggingFaceWriter {
    private static final Pattern CHECKPOINT_FILE = Pattern.compile("model(-\\d{5}-of-\\d{5})?\\.safetensors|model\\.safetensors\\.index\\.json");

    private HuggingFaceWriter() {}

    /** One file, every tensor in its own dtype. */
    public static void write(LlamaWeights w, Path dir) throws IOException { write(w, dir, null, 0); }

    /**
     * @param dtype         the dtype every tensor is stored in, or null to keep each tensor's own
     * @param maxShardBytes the largest shard's data size (a tensor larger than that gets a shard of its own); 0 or less,
     *                      or a model that fits one shard, writes a single model.safetensors
     */
    public static void write(LlamaWeights w, Path dir, DType dtype, long maxShardBytes) throws IOException {
        if (dtype != null && !dtype.isFloating()) throw new IllegalArgumentException("hf writer: weights must be f32, f16 or bf16, not " + dtype.lower());
        LlamaWeights half = RopePermutation.toLayout(w, Rope.Layout.HALF);
        LlamaConfig c = half.config();
        Map<String, Tensor> named = names(half);

        List<SafetensorsWriter> shards = new ArrayList<>();
        Map<String, Integer> shardOf = new LinkedHashMap<>();
        SafetensorsWriter cur = null;
        for (Map.Entry<String, Tensor> e : named.entrySet()) {
            DType as = dtype != null ? dtype : e.getValue().dtype();
            long bytes = TensorBytes.byteSize(e.getValue(), as);
            if (cur == null || (maxShardBytes > 0 && cur.size() > 0 && cur.dataBytes() + bytes > maxShardBytes)) {
                cur = new SafetensorsWriter().metadata("format", "pt");
                shards.add(cur);
            }
            cur.add(e.getKey(), e.getValue(), as);
            shardOf.put(e.getKey(), shards.size() - 1);
        }

        Files.createDirectories(dir);
        Set<String> written = new HashSet<>();
        if (shards.size() == 1) { // what transformers does too when everything fits one shard
            shards.getFirst().write(dir.resolve(HuggingFaceLoader.SINGLE));
            written.add(HuggingFaceLoader.SINGLE);
        } else {
            ObjectNode index = HuggingFaceConfig.JSON.createObjectNode();
            index.putObject("metadata").put("total_size", shards.stream().mapToLong(SafetensorsWriter::dataBytes).sum());
            ObjectNode weightMap = index.putObject("weight_map");
            for (int i = 0; i < shards.size(); i++) {
                shards.get(i).write(dir.resolve(shardName(i, shards.size())));
                written.add(shardName(i, shards.size()));
            }
            shardOf.forEach((name, i) -> weightMap.put(name, shardName(i, shards.size())));
            writeJson(dir.resolve(HuggingFaceLoader.INDEX), index);
            written.add(HuggingFaceLoader.INDEX);
        }
        DType configDType = dtype != null ? dtype : half.embedding().dtype();
        writeJson(dir.resolve(HuggingFaceLoader.CONFIG), HuggingFaceConfig.toJson(c, configDType)); // last: it makes the directory a checkpoint
        removeStale(dir, written);
    }

    static String shardName(int i, int n) { return String.format("model-%05d-of-%05d.safetensors", i + 1, n); }

    /** Tensor names of transformers' LlamaForCausalLM ({@link LlamaWeights#hfNames()}), in {@link LlamaWeights#tensors()} order. */
    static Map<String, Tensor> names(LlamaWeights w) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        List<String> names = w.hfNames();
        List<Tensor> tensors = w.tensors();
        for (int i = 0; i < names.size(); i++) m.put(names.get(i), tensors.get(i));
        return m;
    }

    private static void writeJson(Path file, ObjectNode json) throws IOException {
        byte[] bytes = (json.toPrettyString() + "\n").getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(file, out -> AtomicFiles.writeFully(out, ByteBuffer.wrap(bytes)));
    }

    private static void removeStale(Path dir, Set<String> keep) throws IOException {
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path f : files) {
                String name = f.getFileName().toString();
                if (CHECKPOINT_FILE.matcher(name).matches() && !keep.contains(name)) Files.delete(f);
            }
        }
    }
}
