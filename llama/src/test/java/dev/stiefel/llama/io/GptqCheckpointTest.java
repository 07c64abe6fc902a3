package dev.stiefel.llama.io;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.tensor.Half;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.stiefel.llama.io.IoFixtures.assertBitIdentical;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class GptqCheckpointTest {
    @TempDir Path dir;

    /** 4 bits: column i of row o sits in word i/8 at bit 4·(i mod 8); zeros of row o in word o/8 at bit 4·(o mod 8), minus 1. */
    @Test void packs4BitCodesAndZerosByHand() {
        GptqCheckpoint.Settings s = new GptqCheckpoint.Settings(4, 0, false);
        int out = 8, in = 16;
        int[] codes = new int[out * in];
        for (int i = 0; i < in; i++) codes[i] = i;            // row 0: 0, 1, ..., 15
        codes[in + 3] = 0xA;                                   // row 1, column 3
        int[] zeros = {1, 2, 3, 4, 5, 6, 7, 15};
        GptqCheckpoint.Linear l = new GptqCheckpoint.Linear(out, in, codes, new float[out], zeros);
        int[] qweight = GptqCheckpoint.packQweight(s, l); // [in/8 = 2, out = 8]
        assertThat(qweight[0]).isEqualTo(0x76543210);         // word 0, row 0: columns 0..7, column 0 in the low nibble
        assertThat(qweight[8]).isEqualTo(0xFEDCBA98);         // word 1, row 0: columns 8..15
        assertThat(qweight[1]).isEqualTo(0x0000A000);         // word 0, row 1: column 3 at bits 12..15
        assertThat(qweight[9]).isZero();
        int[] qzeros = GptqCheckpoint.packQzeros(s, l, 1);   // [1 group, out/8 = 1]
        assertThat(qzeros).containsExactly(0xE6543210);       // zero − 1: 0, 1, ..., 6, 14
    }

    /** 8 bits: four codes per word; a symmetric zero 128 is stored as 127 = 0x7F in every byte. */
    @Test void packs8BitCodesAndSymmetricZerosByHand() {
        GptqCheckpoint.Settings s = new GptqCheckpoint.Settings(8, 0, true);
        int out = 4, in = 4;
        int[] codes = {0x01, 0x80, 0xFF, 0x7F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        GptqCheckpoint.Linear l = new GptqCheckpoint.Linear(out, in, codes, new float[out], new int[]{128, 128, 128, 128});
        assertThat(GptqCheckpoint.packQweight(s, l)).containsExactly(0x7FFF8001, 0, 0, 0);
        assertThat(GptqCheckpoint.packQzeros(s, l, 1)).containsExactly(0x7F7F7F7F);
        short[] one = new short[out];
        java.util.Arrays.fill(one, Half.floatToF16(0.5f));
        float[] w = GptqCheckpoint.dequantize(s, out, in, GptqCheckpoint.packQweight(s, l), GptqCheckpoint.packQzeros(s, l, 1), one, new int[in], 1);
        assertThat(w[0]).isEqualTo((1 - 128) * 0.5f);
        assertThat(w[1]).isEqualTo(0f);
        assertThat(w[2]).isEqualTo(127 * 0.5f);
        assertThat(w[4]).isEqualTo(-64f);
    }

    /** A random model whose linears are random GPTQ codes: written, read back, the logits equal the dequantized model's bit for bit. */
    @ParameterizedTest
    @CsvSource({"4, 0, true", "4, 16, false", "8, 32, false", "8, 0, true", "4, 32, true"})
    void roundTripGivesTheSameLogits(int bits, int group, boolean sym) throws Exception {
        LlamaConfig c = RandomModels.config(32, 64, 2, 4, 2, 41, Rope.Layout.HALF, false);
        LlamaWeights w = RandomModels.random(c, 3);
        GptqCheckpoint.Settings s = new GptqCheckpoint.Settings(bits, group, sym);
        Random rnd = new Random(bits * 100 + group);
        Map<String, GptqCheckpoint.Linear> linears = new LinkedHashMap<>();
        Map<Tensor, Tensor> replaced = new IdentityHashMap<>();
        List<String> names = w.hfNames();
        List<Tensor> tensors = w.tensors();
        for (int k = 0; k < names.size(); k++) {
            if (!names.get(k).endsWith("_proj.weight")) continue;
            int out = tensors.get(k).shape()[0], in = tensors.get(k).shape()[1], groups = group == 0 ? 1 : (in + group - 1) / group;
            int[] codes = new int[out * in], zeros = new int[out * groups];
            float[] scales = new float[out * groups], deq = new float[out * in];
            for (int i = 0; i < codes.length; i++) codes[i] = rnd.nextInt(1 << bits);
            for (int i = 0; i < zeros.length; i++) {
                zeros[i] = sym ? 1 << (bits - 1) : 1 + rnd.nextInt((1 << bits) - 1);
                scales[i] = Half.f16ToFloat(Half.floatToF16(0.001f + rnd.nextFloat() * 0.05f));
            }
            for (int o = 0; o < out; o++)
                for (int i = 0; i < in; i++) {
                    int g = o * groups + (group == 0 ? 0 : i / group);
                    deq[o * in + i] = (codes[o * in + i] - zeros[g]) * scales[g];
                }
            linears.put(names.get(k), new GptqCheckpoint.Linear(out, in, codes, scales, zeros));
            replaced.put(tensors.get(k), Tensor.wrap(deq, out, in));
        }
        LlamaWeights expected = w.map(t -> replaced.getOrDefault(t, t));
        GptqCheckpoint.write(w, s, linears, dir);
        assertThat(Files.readString(dir.resolve("config.json"))).contains("\"quant_method\" : \"gptq\"").contains("\"desc_act\" : false")
                .contains("\"checkpoint_format\" : \"gptq\"").contains("\"group_size\" : " + (group == 0 ? -1 : group));
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve(HuggingFaceLoader.SINGLE))) {
            SafetensorsFile.Entry qw = f.entry("model.layers.0.mlp.down_proj.qweight");
            assertThat(qw.shape()).containsExactly(64 * bits / 32, 32);
            assertThat(f.entry("model.layers.0.mlp.down_proj.scales").dtype()).isEqualTo(SafetensorsDType.F16);
            assertThat(f.contains("model.layers.0.mlp.down_proj.weight")).isFalse();
        }
        try (LlamaWeights back = HuggingFaceLoader.load(dir)) {
            for (int k = 0; k < names.size(); k++) assertBitIdentical(names.get(k), back.tensors().get(k), expected.tensors().get(k));
            Tensor ids = Tensor.ofInts(new int[]{1, 5, 9, 2, 40, 7}, 1, 6);
            assertBitIdentical("logits", new LlamaModel(back).forward(ids, null).value(), new LlamaModel(expected).forward(ids, null).value());
        }
    }

    @Test void refusesWhatTheFormatCannotHold() {
        LlamaConfig c = RandomModels.config(32, 64, 1, 4, 2, 41, Rope.Layout.HALF, false);
        LlamaWeights w = RandomModels.random(c, 3);
        GptqCheckpoint.Settings s = new GptqCheckpoint.Settings(4, 0, false);
        String q = "model.layers.0.self_attn.q_proj.weight";
        int[] codes = new int[32 * 32];
        float[] half = new float[32];
        java.util.Arrays.fill(half, 0.5f);
        int[] zeros = new int[32];
        java.util.Arrays.fill(zeros, 3);
        zeros[5] = 0; // v1 stores zero − 1: a zero of 0 would come back as 16
        assertThatThrownBy(() -> GptqCheckpoint.write(w, s, Map.of(q, new GptqCheckpoint.Linear(32, 32, codes, half, zeros)), dir))
                .hasMessageContaining("row 5").hasMessageContaining("zero point 0");
        zeros[5] = 3;
        float[] notF16 = half.clone();
        notF16[2] = 0.1f;
        assertThatThrownBy(() -> GptqCheckpoint.write(w, s, Map.of(q, new GptqCheckpoint.Linear(32, 32, codes, notF16, zeros)), dir))
                .hasMessageContaining("not a positive f16 value");
        assertThatThrownBy(() -> new GptqCheckpoint.Settings(3, 0, true)).hasMessageContaining("4 or 8");
        LlamaConfig odd = RandomModels.config(36, 64, 1, 2, 1, 41, Rope.Layout.HALF, false);
        LlamaWeights wo = RandomModels.random(odd, 3);
        assertThatThrownBy(() -> GptqCheckpoint.write(wo, s, Map.of(q, new GptqCheckpoint.Linear(36, 36, new int[36 * 36], new float[36], new int[36])), dir))
                .hasMessageContaining("multiples of 8");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 128, \"sym\": false}|quant_method 'awq'",
            "{\"quant_method\": \"gptq\", \"bits\": 4, \"group_size\": 128, \"sym\": false, \"desc_act\": true}|desc_act",
            "{\"quant_method\": \"gptq\", \"bits\": 3, \"group_size\": 128, \"sym\": false}|bits must be 4 or 8",
            "{\"quant_method\": \"gptq\", \"bits\": 4, \"group_size\": 128, \"sym\": false, \"checkpoint_format\": \"gptq_v2\"}|gptq_v2",
            "{\"quant_method\": \"gptq\", \"bits\": 4, \"group_size\": 0, \"sym\": false}|group_size"})
    void refusesOtherQuantizationConfigs(String q, String message) throws Exception {
        Path file = dir.resolve("config.json");
        Files.writeString(file, "{\"hidden_size\": 32, \"intermediate_size\": 64, \"num_hidden_layers\": 1, \"num_attention_heads\": 4, "
                + "\"vocab_size\": 41, \"quantization_config\": " + q + "}");
        assertThatThrownBy(() -> HuggingFaceConfig.read(file)).hasMessageContaining(message).hasMessageContaining("config.json");
    }
}
