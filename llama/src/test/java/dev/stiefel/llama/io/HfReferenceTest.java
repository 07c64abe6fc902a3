package dev.stiefel.llama.io;

import dev.stiefel.llama.Generator;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.Sampler;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The checkpoints Hugging Face transformers 5.17 wrote itself ({@code ../shared/models/hf-reference}, see its README),
 * against transformers' own logits of the whole sequence and its greedy continuation through its KV cache. Both RoPE
 * config forms are read: the folders hold version 5's {@code rope_parameters}, and each is also loaded with the same
 * settings rewritten in version 4's top-level form.
 */
class HfReferenceTest {
    static final double TOLERANCE = 2e-3;

    /** The folder, or a skipped test when ../shared is absent. */
    static Path folder(String name) {
        String root = System.getProperty("stiefel.shared");
        Assumptions.assumeTrue(root != null, "system property stiefel.shared is not set (surefire sets it)");
        Path p = Path.of(root).resolve("models/hf-reference").resolve(name);
        Assumptions.assumeTrue(Files.isRegularFile(p.resolve("reference.safetensors")), "shared folder " + p + " is absent");
        return p;
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama-f32", "llama-bf16", "llama3-tied-ropescaled-f32", "llama3-tied-ropescaled-bf16",
            "mistral-f32", "mistral-bf16", "qwen2-f32", "qwen2-bf16", "qwen3-f32", "qwen3-bf16"})
    void logitsAndGreedyContinuationMatchTransformers(String name) throws IOException {
        Path dir = folder(name);
        try (SafetensorsFile ref = SafetensorsFile.open(dir.resolve("reference.safetensors"));
             LlamaWeights w = HuggingFaceLoader.load(dir)) {
            int[] ids = ints(ref, "input_ids");
            Tensor expected = ref.tensor("logits").contiguous();
            int[] greedy = ints(ref, "greedy_from_8");
            LlamaModel model = new LlamaModel(w);
            assertThat(maxAbsDiff(logits(model, ids), expected)).as("%s logits vs transformers", name).isLessThan(TOLERANCE);

            Generator.Result r = new Generator(model).generate(Arrays.copyOf(ids, 8), greedy.length, Sampler.greedy(), -1, t -> {});
            assertThat(r.generatedTokens()).as("%s greedy continuation of the first 8 ids (KV cache)", name).containsExactly(greedy);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama3-tied-ropescaled-f32", "mistral-f32", "qwen3-f32"})
    void theTransformers4ConfigFormGivesTheSameModel(String name) throws IOException {
        Path dir = folder(name);
        LlamaConfig v5 = HuggingFaceConfig.read(dir.resolve(HuggingFaceLoader.CONFIG));
        var root = (com.fasterxml.jackson.databind.node.ObjectNode) HuggingFaceConfig.JSON.readTree(dir.resolve(HuggingFaceLoader.CONFIG).toFile());
        var params = (com.fasterxml.jackson.databind.node.ObjectNode) root.remove("rope_parameters");
        root.set("rope_theta", params.remove("rope_theta"));
        if (!params.get("rope_type").asText().equals("default")) root.set("rope_scaling", params);
        Path v4 = Files.createTempFile("config-v4", ".json");
        try {
            Files.writeString(v4, root.toPrettyString());
            assertThat(HuggingFaceConfig.read(v4)).isEqualTo(v5);
        } finally {
            Files.deleteIfExists(v4);
        }
    }

    /** Each reference through our own writers (HF and GGUF, in its stored dtype) and back: the same logits, bit for bit. */
    @ParameterizedTest
    @ValueSource(strings = {"llama3-tied-ropescaled-bf16", "mistral-f32", "qwen2-bf16", "qwen3-f32"})
    void ourWritersKeepTheModel(String name) throws IOException {
        Path dir = folder(name);
        Path tmp = Files.createTempDirectory("hf-roundtrip");
        try (SafetensorsFile ref = SafetensorsFile.open(dir.resolve("reference.safetensors"));
             LlamaWeights w = HuggingFaceLoader.load(dir)) {
            int[] ids = ints(ref, "input_ids");
            Tensor want = logits(new LlamaModel(w), ids);
            HuggingFaceWriter.write(w, tmp.resolve("hf"));
            try (LlamaWeights back = HuggingFaceLoader.load(tmp.resolve("hf"))) {
                assertThat(back.config()).isEqualTo(w.config());
                assertThat(maxAbsDiff(logits(new LlamaModel(back), ids), want)).as("%s through the HF writer", name).isZero();
            }
            if (w.config().ropeScaling() == null) { // GGUF: LLaMA-3.1's rope_freqs tensor is not written
                Path gguf = tmp.resolve("m.gguf");
                GgufModelWriter.write(w, null, gguf, GgmlType.valueOf(w.embedding().dtype().name()));
                try (LoadedModel back = GgufLoader.load(gguf)) {
                    assertThat(back.weights().config().architecture()).isEqualTo(w.config().architecture());
                    assertThat(maxAbsDiff(logits(new LlamaModel(back.weights()), ids), want)).as("%s through GGUF", name).isLessThan(1e-5);
                }
            }
        } finally {
            try (var files = Files.walk(tmp)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** An I32 tensor of the reference file (little-endian, as safetensors stores it). */
    static int[] ints(SafetensorsFile f, String name) throws IOException {
        java.nio.IntBuffer b = java.nio.ByteBuffer.wrap(f.byteArray(name)).order(java.nio.ByteOrder.LITTLE_ENDIAN).asIntBuffer();
        int[] out = new int[b.remaining()];
        b.get(out);
        return out;
    }

    /** Logits [T, vocab] of the sequence from position 0, no cache. */
    static Tensor logits(LlamaModel model, int[] ids) {
        try (var off = dev.stiefel.autograd.Grad.off()) {
            return model.forward(Tensor.ofInts(ids, 1, ids.length), null).value().reshape(ids.length, model.config().vocabSize());
        }
    }

    static double maxAbsDiff(Tensor a, Tensor b) {
        float[] x = a.contiguous().toFloatArray(), y = b.contiguous().toFloatArray();
        assertThat(x.length).isEqualTo(y.length);
        double m = 0;
        for (int i = 0; i < x.length; i++) m = Math.max(m, Math.abs((double) x[i] - y[i]));
        return m;
    }
}
