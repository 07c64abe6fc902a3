package dev.stiefel.llama.io;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stiefel.autograd.Grad;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static dev.stiefel.llama.io.IoFixtures.assertBitIdentical;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class HuggingFaceTest {
    @TempDir Path dir;

    @ParameterizedTest
    @CsvSource({"F32, 4, 2, false", "F16, 4, 1, true", "BF16, 6, 3, false", "BF16, 2, 2, true"})
    void randomCheckpointsReadBackBitIdenticalAndMapped(DType dtype, int heads, int kvHeads, boolean tied) throws IOException {
        LlamaConfig c = RandomModels.config(heads * 6, 37, 2, heads, kvHeads, 41, Rope.Layout.HALF, tied);
        LlamaWeights w = RandomModels.random(c, 5, dtype);
        HuggingFaceWriter.write(w, dir);
        assertThat(dir.resolve("model.safetensors")).exists();
        try (LlamaWeights r = HuggingFaceLoader.load(dir)) {
            assertThat(r.config()).isEqualTo(c);
            IoFixtures.assertSameWeights(r, w, null);
            assertThat(IoFixtures.isMapped(r.layer(1).wk())).as("weights are views of the file, not copies").isTrue();
            if (tied) assertThat(r.output()).isSameAs(r.embedding());
        }
    }

    @ParameterizedTest
    @CsvSource({"QWEN2, F32, false", "QWEN2, BF16, true", "QWEN3, F32, true", "QWEN3, F16, false"})
    void randomQwenCheckpointsReadBackBitIdenticalWithTheirConfig(LlamaConfig.Architecture arch, DType dtype, boolean tied) throws IOException {
        LlamaConfig c = dev.stiefel.llama.testing.RandomModels.qwen(arch, 24, 37, 2, 4, 2, 41, tied);
        LlamaWeights w = dev.stiefel.llama.testing.RandomModels.random(c, 5, dtype);
        HuggingFaceWriter.write(w, dir);
        String json = Files.readString(dir.resolve("config.json"));
        assertThat(json).contains(arch == LlamaConfig.Architecture.QWEN2 ? "Qwen2ForCausalLM" : "Qwen3ForCausalLM");
        try (LlamaWeights r = HuggingFaceLoader.load(dir)) {
            assertThat(r.config()).isEqualTo(c);
            IoFixtures.assertSameWeights(r, w, null);
        }
        // interleaved weights are permuted on the way out, biases and q/k norm gains with them: the same model again
        HuggingFaceWriter.write(RopePermutation.toLayout(w, Rope.Layout.INTERLEAVED), dir);
        try (LlamaWeights r = HuggingFaceLoader.load(dir)) {
            IoFixtures.assertSameWeights(r, w, null);
        }
    }

    @Test void shardsWithAnIndexReadBackAndAStaleLayoutIsRemoved() throws IOException {
        LlamaConfig c = RandomModels.config(16, 24, 3, 4, 2, 29, Rope.Layout.HALF, false);
        LlamaWeights w = RandomModels.random(c, 8, DType.F32);
        HuggingFaceWriter.write(w, dir, DType.BF16, 3000);
        List<String> shards;
        try (var files = Files.list(dir)) {
            shards = files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("model-")).sorted().toList();
        }
        assertThat(shards.size()).isGreaterThan(2);
        assertThat(shards.getFirst()).isEqualTo("model-00001-of-" + String.format("%05d", shards.size()) + ".safetensors");
        assertThat(dir.resolve("model.safetensors.index.json")).exists();
        for (String s : shards) // each shard within the limit unless a single tensor is larger
            try (SafetensorsFile f = SafetensorsFile.open(dir.resolve(s))) {
                long bytes = f.entries().stream().mapToLong(SafetensorsFile.Entry::byteSize).sum();
                assertThat(bytes <= 3000 || f.entries().size() == 1).as(s + " holds " + bytes).isTrue();
                assertThat(f.metadata()).containsEntry("format", "pt");
            }
        try (LlamaWeights r = HuggingFaceLoader.load(dir)) {
            IoFixtures.assertSameWeights(r, w, DType.BF16);
        }
        // rewriting as one file removes the shards and the index, so the directory is unambiguous
        HuggingFaceWriter.write(w, dir);
        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString()).sorted().toList()).containsExactly("config.json", "model.safetensors");
        }
        try (LlamaWeights r = HuggingFaceLoader.load(dir)) {
            IoFixtures.assertSameWeights(r, w, null);
        }
    }

    /** Interleaved weights (llama2.c/GGUF order) go to disk with Q/K rows permuted as HF's converter does: same model. */
    @Test void interleavedWeightsAreWrittenWithRotateHalfRowsAndGiveTheSameLogits() throws IOException {
        LlamaConfig c = RandomModels.config(32, 40, 2, 4, 2, 45, Rope.Layout.INTERLEAVED, false);
        LlamaWeights w = RandomModels.random(c, 21, DType.F32);
        HuggingFaceWriter.write(w, dir);
        try (LlamaWeights r = HuggingFaceLoader.load(dir)) {
            assertThat(r.config()).isEqualTo(c.withRopeLayout(Rope.Layout.HALF));
            for (int l = 0; l < c.layers(); l++) {
                assertBitIdentical("wq " + l, r.layer(l).wq(), RopePermutation.toHalf(w.layer(l).wq(), c.heads()));
                assertBitIdentical("wk " + l, r.layer(l).wk(), RopePermutation.toHalf(w.layer(l).wk(), c.kvHeads()));
                assertBitIdentical("wv " + l, r.layer(l).wv(), w.layer(l).wv());
                assertBitIdentical("w_down " + l, r.layer(l).wDown(), w.layer(l).wDown());
            }
            Tensor ids = Tensor.ofInts(new Random(1).ints(11, 0, c.vocabSize()).toArray(), 1, 11);
            try (var off = Grad.off()) {
                Tensor a = new LlamaModel(w).forward(ids, null).value();
                Tensor b = new LlamaModel(r).forward(ids, null).value();
                assertThat(a.maxAbsDiff(b)).isLessThan(1e-4);
            }
        }
    }

    // ------------------------------------------------------------------ config.json

    private Path config(String json) throws IOException {
        Path p = dir.resolve("config.json");
        Files.writeString(p, json);
        return p;
    }

    @Test void configDefaultsFollowTransformers() throws IOException {
        LlamaConfig c = HuggingFaceConfig.read(config("""
                {"hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 5, "num_attention_heads": 8, "vocab_size": 512}"""));
        assertThat(c).isEqualTo(new LlamaConfig(64, 172, 5, 8, 8, 8, 512, 1e-6f, 10000, null, Rope.Layout.HALF, false, 2048));
    }

    @Test void llama3RopeScalingAndEveryFieldAreRead() throws IOException {
        LlamaConfig c = HuggingFaceConfig.read(config("""
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192,
                 "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256,
                 "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "tie_word_embeddings": true, "max_position_embeddings": 131072,
                 "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                  "original_max_position_embeddings": 8192, "rope_type": "llama3"},
                 "torch_dtype": "bfloat16", "hidden_act": "silu", "attention_bias": false, "mlp_bias": false}"""));
        assertThat(c).isEqualTo(new LlamaConfig(2048, 8192, 16, 32, 8, 64, 128256, 1e-5f, 500000, new LlamaConfig.RopeScaling(32, 1, 4, 8192),
                Rope.Layout.HALF, true, 131072));
        // and it survives our own config.json
        ObjectNode json = HuggingFaceConfig.toJson(c, DType.BF16);
        assertThat(json.get("torch_dtype").asText()).isEqualTo("bfloat16");
        assertThat(json.get("rms_norm_eps").asDouble()).isEqualTo(1e-5);
        assertThat(HuggingFaceConfig.read(config(json.toPrettyString()))).isEqualTo(c);
    }

    @Test void mistralsSlidingWindowCapsTheContext() throws IOException {
        String base = "\"model_type\": \"mistral\", \"hidden_size\": 64, \"intermediate_size\": 172, \"num_hidden_layers\": 2, "
                + "\"num_attention_heads\": 8, \"num_key_value_heads\": 2, \"vocab_size\": 512, \"max_position_embeddings\": 32768";
        assertThat(HuggingFaceConfig.read(config("{" + base + ", \"sliding_window\": 4096}")).maxSeqLen()).isEqualTo(4096);
        assertThat(HuggingFaceConfig.read(config("{" + base + ", \"sliding_window\": null}")).maxSeqLen()).isEqualTo(32768);
    }

    /** Every key is harmless, implemented or refused by name; both RoPE forms are read and must agree. */
    @Test void configKeysAreReadOrRefusedByNameInBothRopeForms() throws IOException {
        String base = "\"hidden_size\": 64, \"intermediate_size\": 172, \"num_hidden_layers\": 4, \"num_attention_heads\": 8, \"vocab_size\": 512";
        String llama3 = "\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
                + "\"original_max_position_embeddings\": 64";
        LlamaConfig v5 = HuggingFaceConfig.read(config("{" + base + ", \"rope_parameters\": {\"rope_theta\": 500000.0, " + llama3 + "}}"));
        LlamaConfig v4 = HuggingFaceConfig.read(config("{" + base + ", \"rope_theta\": 500000.0, \"rope_scaling\": {" + llama3 + "}}"));
        assertThat(v5).isEqualTo(v4);
        assertThat(v5.ropeTheta()).isEqualTo(500000.0);
        assertThat(v5.ropeScaling()).isEqualTo(new LlamaConfig.RopeScaling(8, 1, 4, 64));
        assertThat(HuggingFaceConfig.read(config("{" + base + ", \"rope_parameters\": {\"rope_theta\": 1e6, \"rope_type\": \"default\"}}")).ropeTheta())
                .isEqualTo(1e6);
        // both forms present and different: refused, never one silently preferred
        Path clash = config("{" + base + ", \"rope_theta\": 10000.0, \"rope_parameters\": {\"rope_theta\": 1e6, \"rope_type\": \"default\"}}");
        assertThatThrownBy(() -> HuggingFaceConfig.read(clash)).isInstanceOf(ModelFormatException.class).hasMessageContaining("contradicts");
        Path inner = config("{" + base + ", \"rope_theta\": 10000.0, \"rope_scaling\": {\"rope_type\": \"default\", \"rope_theta\": 1e6}}");
        assertThatThrownBy(() -> HuggingFaceConfig.read(inner)).hasMessageContaining("rope_scaling.rope_theta");
        Path yarn = config("{" + base + ", \"rope_parameters\": {\"rope_theta\": 1e6, \"rope_type\": \"yarn\", \"factor\": 4.0}}");
        assertThatThrownBy(() -> HuggingFaceConfig.read(yarn)).hasMessageContaining("'yarn'");
        Path partial = config("{" + base + ", \"rope_parameters\": {\"rope_theta\": 1e6, \"rope_type\": \"default\", \"partial_rotary_factor\": 0.5}}");
        assertThatThrownBy(() -> HuggingFaceConfig.read(partial)).hasMessageContaining("rope_parameters.partial_rotary_factor");
        // unknown keys may change the math: refused by name; harmless ones pass
        Path unknown = config("{" + base + ", \"logits_scaling\": 4.0}");
        assertThatThrownBy(() -> HuggingFaceConfig.read(unknown)).hasMessageContainingAll("'logits_scaling'", "'llama'");
        Path quantized = config("{" + base + ", \"quantization_config\": {\"bits\": 4}}");
        assertThatThrownBy(() -> HuggingFaceConfig.read(quantized)).hasMessageContaining("quantization_config");
        Path window = config("{" + base + ", \"sliding_window\": 16}");
        assertThatThrownBy(() -> HuggingFaceConfig.read(window)).as("llama has no sliding window").hasMessageContaining("'sliding_window'");
        HuggingFaceConfig.read(config("{" + base + ", \"bos_token_id\": 1, \"initializer_range\": 0.02, \"_name_or_path\": \"x\", "
                + "\"use_cache\": true, \"pretraining_tp\": 1, \"attention_dropout\": 0.0, \"transformers_version\": \"5.17.0\"}"));
        // Qwen: biases come with the architecture; an o_proj bias (Qwen3's attention_bias) is refused
        assertThat(HuggingFaceConfig.read(config("{" + base + ", \"model_type\": \"qwen2\"}")).architecture()).isEqualTo(LlamaConfig.Architecture.QWEN2);
        LlamaConfig q3 = HuggingFaceConfig.read(config("{" + base + ", \"model_type\": \"qwen3\", \"head_dim\": 24}"));
        assertThat(q3.architecture()).isEqualTo(LlamaConfig.Architecture.QWEN3);
        assertThat(q3.headDim()).isEqualTo(24);
        Path q3bias = config("{" + base + ", \"model_type\": \"qwen3\", \"attention_bias\": true}");
        assertThatThrownBy(() -> HuggingFaceConfig.read(q3bias)).hasMessageContaining("attention_bias");
        Path mlpBias = config("{" + base + ", \"model_type\": \"qwen2\", \"mlp_bias\": false}");
        assertThatThrownBy(() -> HuggingFaceConfig.read(mlpBias)).as("Qwen2's config has no mlp_bias").hasMessageContaining("'mlp_bias'");
    }

    /** Qwen's sliding window: only with use_sliding_window, only on the layers it names; within it the model is exact. */
    @Test void qwenSlidingWindowCapsTheContextOnlyWhenSomeLayerUsesIt() throws IOException {
        String base = "\"model_type\": \"qwen2\", \"hidden_size\": 64, \"intermediate_size\": 172, \"num_hidden_layers\": 4, "
                + "\"num_attention_heads\": 8, \"vocab_size\": 512, \"max_position_embeddings\": 32768, \"sliding_window\": 4096";
        assertThat(HuggingFaceConfig.read(config("{" + base + ", \"use_sliding_window\": false}")).maxSeqLen()).isEqualTo(32768);
        assertThat(HuggingFaceConfig.read(config("{" + base + ", \"use_sliding_window\": true, \"max_window_layers\": 28}")).maxSeqLen()).isEqualTo(32768);
        assertThat(HuggingFaceConfig.read(config("{" + base + ", \"use_sliding_window\": true, \"max_window_layers\": 2}")).maxSeqLen()).isEqualTo(4096);
        String full = "[\"full_attention\", \"full_attention\", \"full_attention\", \"full_attention\"]";
        assertThat(HuggingFaceConfig.read(config("{" + base + ", \"use_sliding_window\": true, \"layer_types\": " + full + "}")).maxSeqLen()).isEqualTo(32768);
        String mixed = full.replaceFirst("full_attention", "sliding_attention");
        assertThat(HuggingFaceConfig.read(config("{" + base + ", \"use_sliding_window\": true, \"layer_types\": " + mixed + "}")).maxSeqLen()).isEqualTo(4096);
        Path bad = config("{" + base + ", \"use_sliding_window\": true, \"layer_types\": [\"chunked_attention\"]}");
        assertThatThrownBy(() -> HuggingFaceConfig.read(bad)).hasMessageContaining("layer_types");
    }

    @Test void unsupportedConfigsAreRefusedByName() throws IOException {
        String base = "\"hidden_size\": 64, \"intermediate_size\": 172, \"num_hidden_layers\": 5, \"num_attention_heads\": 8, \"vocab_size\": 512";
        Path p = config("{" + base + ", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}}");
        assertThatThrownBy(() -> HuggingFaceConfig.read(p)).isInstanceOf(ModelFormatException.class).hasMessageContainingAll(p.toString(), "'linear'");
        Path bias = config("{" + base + ", \"attention_bias\": true}");
        assertThatThrownBy(() -> HuggingFaceConfig.read(bias)).hasMessageContaining("attention_bias");
        Path missing = config("{\"hidden_size\": 64}");
        assertThatThrownBy(() -> HuggingFaceConfig.read(missing)).hasMessageContaining("intermediate_size is missing");
        Path type = config("{" + base + ", \"model_type\": \"gpt2\"}");
        assertThatThrownBy(() -> HuggingFaceConfig.read(type)).hasMessageContaining("'gpt2'");
        Path gqa = config("{" + base + ", \"num_key_value_heads\": 3}");
        assertThatThrownBy(() -> HuggingFaceConfig.read(gqa)).isInstanceOf(ModelFormatException.class).hasMessageContaining("kvHeads (3)");
        Path text = config("{" + base.replace("\"vocab_size\": 512", "\"vocab_size\": \"512\"") + "}");
        assertThatThrownBy(() -> HuggingFaceConfig.read(text)).hasMessageContaining("vocab_size must be an integer");
    }

    // ------------------------------------------------------------------ malformed checkpoints

    private LlamaWeights small(boolean tied) {
        return RandomModels.random(RandomModels.config(16, 24, 2, 4, 2, 19, Rope.Layout.HALF, tied), 3, DType.F32);
    }

    @Test void aShapeThatDoesNotMatchTheConfigNamesFileTensorAndOffset() throws IOException {
        LlamaWeights w = small(false);
        HuggingFaceWriter.write(w, dir);
        // config.json claims a larger intermediate size than the tensors have
        Files.writeString(dir.resolve("config.json"), Files.readString(dir.resolve("config.json")).replace("\"intermediate_size\" : 24", "\"intermediate_size\" : 25"));
        long offset;
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("model.safetensors"))) {
            offset = f.fileOffset(f.entry("model.layers.0.mlp.gate_proj.weight"));
        }
        assertThatThrownBy(() -> HuggingFaceLoader.load(dir)).isInstanceOf(ModelFormatException.class)
                .hasMessageContainingAll(dir.resolve("model.safetensors").toString(), "model.layers.0.mlp.gate_proj.weight", "offset " + offset,
                        "[24, 16]", "[25, 16]");
    }

    @Test void missingAndExtraTensorsAreNamed() throws IOException {
        LlamaWeights w = small(false);
        var writer = new SafetensorsWriter();
        HuggingFaceWriter.names(w).forEach((n, t) -> { if (!n.equals("model.layers.1.self_attn.v_proj.weight")) writer.add(n, t); });
        writer.write(dir.resolve("model.safetensors"));
        Files.writeString(dir.resolve("config.json"), HuggingFaceConfig.toJson(w.config(), DType.F32).toPrettyString());
        assertThatThrownBy(() -> HuggingFaceLoader.load(dir)).isInstanceOf(ModelFormatException.class)
                .hasMessageContainingAll("model.safetensors", "model.layers.1.self_attn.v_proj.weight", "missing");

        var biased = new SafetensorsWriter();
        HuggingFaceWriter.names(w).forEach(biased::add);
        biased.add("model.layers.0.self_attn.q_proj.bias", Tensor.zeros(16));
        biased.add("model.layers.0.self_attn.rotary_emb.inv_freq", Tensor.zeros(2)); // old checkpoints carry it: ignored
        biased.write(dir.resolve("model.safetensors"));
        assertThatThrownBy(() -> HuggingFaceLoader.load(dir)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("does not have: [model.layers.0.self_attn.q_proj.bias]");
    }

    @Test void tiedCheckpointsIgnoreAStoredLmHead() throws IOException {
        LlamaWeights w = small(true);
        var writer = new SafetensorsWriter();
        HuggingFaceWriter.names(w).forEach(writer::add);
        writer.add("lm_head.weight", Tensor.zeros(19, 16));
        writer.write(dir.resolve("model.safetensors"));
        Files.writeString(dir.resolve("config.json"), HuggingFaceConfig.toJson(w.config(), DType.F32).toPrettyString());
        try (LlamaWeights r = HuggingFaceLoader.load(dir)) {
            assertThat(r.output()).isSameAs(r.embedding());
        }
    }

    @Test void brokenIndexesAreReported() throws IOException {
        LlamaWeights w = small(false);
        HuggingFaceWriter.write(w, dir, null, 2000);
        Path index = dir.resolve("model.safetensors.index.json");
        String json = Files.readString(index);
        Files.writeString(index, json.replace("model-00001-of-", "model-00077-of-"));
        assertThatThrownBy(() -> HuggingFaceLoader.load(dir)).isInstanceOf(ModelFormatException.class)
                .hasMessageContainingAll(index.toString(), "model-00077-of-", "does not exist");
        Files.writeString(index, json.replaceFirst("(\"model.norm.weight\" : \")", "$1../"));
        assertThatThrownBy(() -> HuggingFaceLoader.load(dir)).hasMessageContaining("not a file of this directory");
        // a tensor mapped to a shard that does not hold it
        String other = json.replaceFirst("(\"model.embed_tokens.weight\" : \")model-00001-", "$1model-00002-");
        Files.writeString(index, other);
        assertThatThrownBy(() -> HuggingFaceLoader.load(dir)).hasMessageContainingAll("model-00002-of-", "model.embed_tokens.weight", "missing");
    }

    @Test void directoriesWithoutWeightsAreExplained() throws IOException {
        Files.writeString(dir.resolve("config.json"), HuggingFaceConfig.toJson(small(true).config(), DType.F32).toPrettyString());
        Files.writeString(dir.resolve("pytorch_model.bin"), "pickle");
        assertThatThrownBy(() -> HuggingFaceLoader.load(dir)).isInstanceOf(ModelFormatException.class)
                .hasMessageContainingAll("model.safetensors", "pickle");
        assertThatThrownBy(() -> HuggingFaceLoader.load(dir.resolve("nowhere"))).hasMessageContaining("config.json is missing");
    }
}
