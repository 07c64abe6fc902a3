package dev.stiefel.quant.ggml;

import dev.stiefel.quant.export.GgmlExport;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.llama.testing.LogitError;
import dev.stiefel.quant.RandomCalibration;
import dev.stiefel.tensor.Rope;
import dev.stiefel.quant.GgmlTarget;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.io.GgmlType;
import dev.stiefel.llama.io.GgufFile;
import dev.stiefel.llama.io.GgufLoader;
import dev.stiefel.llama.io.LoadedModel;
import dev.stiefel.llama.io.RopePermutation;
import dev.stiefel.llama.io.ggml.BlockFormats;
import dev.stiefel.quant.pipeline.Method;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.catalog.Methods;
import dev.stiefel.quant.method.OstQuant;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Methods on llama.cpp's grids: the GGUF written afterwards loads as exactly the weights the method evaluated (every
 * matrix bit for bit), RTN's blocks are the format's reference bytes, and the per-tensor types follow the file type.
 */
class GgmlGridsTest {
    @TempDir Path dir;

    /** Rows of 256 (K-quants apply) except ffn_down's 96-wide ones in the second config, which fall back. */
    private static LlamaWeights model(int hidden, boolean tied) {
        LlamaConfig c = RandomModels.config(256, hidden, 3, 4, 2, 40, Rope.Layout.HALF, tied);
        return RandomModels.random(c, 5);
    }

    @ParameterizedTest
    @CsvSource({"rtn, Q4_0, 256, true", "rtn, Q4_K_M, 256, false", "rtn, Q8_0, 96, true", "gptq, Q4_K_M, 256, true", "gptq, Q4_0, 96, false",
            "gptq, Q6_K, 256, false", "rtn, Q4_K_S, 256, false", "rtn, Q4_1, 256, true", "awq, Q4_0, 256, true", "awq, Q4_K_M, 96, false", "omniquant, Q4_0, 256, true", "omniquant, Q4_K_M, 256, false"})
    void theWrittenFileIsExactlyTheEvaluatedModel(String methodName, String type, int hidden, boolean tied) throws IOException {
        writeAndCompare(methodName, Methods.Options.defaults(), type, hidden, tied);
    }

    /**
     * Quantizes a random model by the method on the grids of {@code type}, writes the GGUF and checks that it is the
     * evaluated model: general.file_type, every matrix bit for bit, the logits, a named F16 fallback for ffn_down rows
     * that are not whole blocks. Returns the quantized model.
     */
    private QuantizedModel writeAndCompare(String methodName, Methods.Options options, String type, int hidden, boolean tied) throws IOException {
        LlamaWeights fp = model(hidden, tied);
        QuantConfig config = QuantConfig.parse(type);
        CalibrationData cal = RandomCalibration.of(4, 24, fp.config().vocabSize(), 3);
        Method method = Methods.byName(methodName, options);
        QuantizedModel q = method.apply(fp, cal, config, ProgressFactory.SILENT);
        Path p = dir.resolve(methodName + type + ".gguf");
        GgmlExport.write(q.weights(), null, null, p, config.ggml());
        try (LoadedModel m = GgufLoader.load(p); GgufFile f = GgufFile.open(p)) {
            assertThat(f.metadata().integer("general.file_type")).isEqualTo(config.ggml().fileType().id());
            // the file holds Q/K rows in llama.cpp's interleaved order; back in the model's own order they are the same tensors
            LlamaWeights back = RopePermutation.toLayout(m.weights(), fp.config().ropeLayout());
            var written = dev.stiefel.llama.io.GgufModelWriter.matrices(back);
            dev.stiefel.llama.io.GgufModelWriter.matrices(q.weights()).forEach((name, t) ->
                    assertThat(written.get(name).toFloatArray()).as(name).isEqualTo(t.toFloatArray()));
            List<Tensor> seq = RandomModels.sequences(new Random(1), 1, 12, fp.config().vocabSize());
            assertThat(new LlamaModel(back).forward(seq.get(0), null).value().toFloatArray()).isEqualTo(q.model().forward(seq.get(0), null).value().toFloatArray());
            if (hidden % 32 != 0) {
                assertThat(f.info("blk.0.ffn_down.weight").type()).isEqualTo(GgmlType.F16);
                assertThat(f.metadata().strings("stiefel.fallbacks")).anyMatch(s -> s.startsWith("blk.0.ffn_down.weight: F16"));
            }
        }
        return q;
    }

    /**
     * Qwen2 (q/k/v biases) and Qwen3 (q/k norms) export too: their GGUF architecture keeps rotate-half Q/K rows, biases and
     * norms are stored F32, and the file computes the evaluated model exactly.
     */
    @ParameterizedTest
    @CsvSource({"QWEN2, rtn, Q4_K_M", "QWEN3, gptq, Q4_0"})
    void qwenModelsExportToTheirOwnArchitecture(LlamaConfig.Architecture arch, String methodName, String type) throws IOException {
        // 16 heads: Qwen3's head dim 16 + 2 keeps o_proj's rows (288) whole blocks, so no matrix falls back to F16 (an F16
        // matrix holds the same values but runs the half-precision product, which sums in another order)
        LlamaWeights fp = RandomModels.random(RandomModels.qwen(RandomModels.config(256, 256, 2, 16, 4, 40, Rope.Layout.HALF, false), arch), 6);
        QuantConfig config = QuantConfig.parse(type);
        QuantizedModel q = Methods.byName(methodName, Methods.Options.defaults())
                .apply(fp, RandomCalibration.of(4, 24, fp.config().vocabSize(), 3), config, ProgressFactory.SILENT);
        Path p = dir.resolve(arch + ".gguf");
        GgmlExport.write(q.weights(), null, null, p, config.ggml());
        try (LoadedModel m = GgufLoader.load(p); GgufFile f = GgufFile.open(p)) {
            assertThat(f.metadata().string("general.architecture")).isEqualTo(arch.name().toLowerCase(java.util.Locale.ROOT));
            assertThat(m.weights().config()).isEqualTo(fp.config());
            List<Tensor> seq = RandomModels.sequences(new Random(1), 1, 12, fp.config().vocabSize());
            assertThat(new LlamaModel(m.weights()).forward(seq.get(0), null).value().toFloatArray())
                    .isEqualTo(q.model().forward(seq.get(0), null).value().toFloatArray());
        }
    }

    /** RTN's blocks are the format's reference bytes of the original weights (here: Q4_K_M's mix, matrix by matrix). */
    @Test void rtnBlocksAreTheReferenceBytes() {
        LlamaWeights fp = model(256, false);
        QuantConfig config = QuantConfig.parse("Q4_K_M");
        QuantizedModel q = Methods.byName("rtn", Methods.Options.defaults()).apply(fp, null, config, ProgressFactory.SILENT);
        var original = dev.stiefel.llama.io.GgufModelWriter.matrices(fp);
        dev.stiefel.llama.io.GgufModelWriter.matrices(q.weights()).forEach((name, t) -> {
            GgmlTarget.Encoded e = config.ggml().encoded(t);
            float[] x = original.get(name).toFloatArray();
            assertThat(e.blocks()).as(name).isEqualTo(BlockFormats.of(e.type()).quantizeRow(x, 0, x.length));
        });
        // 3 layers: use_more_bits holds for layer 2 only ((2 − 0) % 3 == 2): its attn_v and ffn_down are Q6_K
        assertThat(config.ggml().encoded(q.weights().layer(2).wv()).type()).isEqualTo(GgmlType.Q6_K);
        assertThat(config.ggml().encoded(q.weights().layer(2).wDown()).type()).isEqualTo(GgmlType.Q6_K);
        assertThat(config.ggml().encoded(q.weights().layer(1).wv()).type()).isEqualTo(GgmlType.Q4_K);
        assertThat(config.ggml().encoded(q.weights().output()).type()).isEqualTo(GgmlType.Q6_K);
        assertThat(config.ggml().encoded(q.weights().embedding()).type()).isEqualTo(GgmlType.Q4_K);
    }

    /** GPTQ on the grid keeps the reference headers, changes codes, and lowers the output error on the calibration inputs. */
    @Test void gptqChoosesOtherCodesOnTheSameHeaders() {
        LlamaWeights fp = model(256, true);
        CalibrationData cal = RandomCalibration.of(8, 32, fp.config().vocabSize(), 4);
        QuantConfig rtnConfig = QuantConfig.parse("Q4_0"), gptqConfig = QuantConfig.parse("Q4_0");
        QuantizedModel rtn = Methods.byName("rtn", Methods.Options.defaults()).apply(fp, cal, rtnConfig, ProgressFactory.SILENT);
        QuantizedModel gptq = Methods.byName("gptq", Methods.Options.defaults()).apply(fp, cal, gptqConfig, ProgressFactory.SILENT);
        byte[] a = rtnConfig.ggml().encoded(rtn.weights().layer(0).wq()).blocks(), b = gptqConfig.ggml().encoded(gptq.weights().layer(0).wq()).blocks();
        int headersEqual = 0, codesDiffer = 0;
        for (int blk = 0; blk < a.length; blk += 18) {
            if (a[blk] == b[blk] && a[blk + 1] == b[blk + 1]) headersEqual++;
            for (int k = 2; k < 18; k++) if (a[blk + k] != b[blk + k]) codesDiffer++;
        }
        assertThat(headersEqual).isEqualTo(a.length / 18);
        assertThat(codesDiffer).isPositive();
        List<Tensor> seqs = RandomModels.sequences(new Random(2), 4, 32, fp.config().vocabSize());
        LlamaModel ref = new LlamaModel(fp);
        assertThat(LogitError.relative(ref, gptq.model(), seqs)).isLessThan(LogitError.relative(ref, rtn.model(), seqs));
    }

    /**
     * The weight-only rotation methods on the grids: only the transforms that fold into the weights (R1, R2 and, for
     * OSTQuant, the scalings), then GPTQ or RTN on the grid; the file computes the evaluated model exactly (as above).
     * One learning epoch keeps OSTQuant/SpinQuant fast; what they learn does not matter to exactness.
     */
    @ParameterizedTest
    @CsvSource({"quarot, Q4_0, 256, true", "quarot-rtn, Q4_K_M, 96, false", "quarot-gptq, Q8_0, 256, false", "spinquant, Q4_0, 96, true",
            "spinquant-rtn, Q4_K_M, 256, false", "ostquant, Q4_K_M, 256, true", "ostquant-rtn, Q4_0, 256, false"})
    void rotationMethodsWriteExactlyTheEvaluatedModel(String methodName, String type, int hidden, boolean tied) throws IOException {
        Methods.Options options = Methods.Options.defaults().withOstquant(new OstQuant.Overrides(1, null, null, null, null, null, null, null, null,
                null, null, null, null, null, null));
        QuantizedModel q = writeAndCompare(methodName, options, type, hidden, tied);
        assertThat(q.foldedIntoWeights()).as("nothing left to run online").isTrue();
        assertThat(q.report().section(dev.stiefel.quant.pipeline.Report.Transformed.class).onlineLeftOut()).anySatisfy(o -> assertThat(o).contains("at MLP_OUT"));
    }

    /** A quantized K cache would need the online Q/K Hadamard (R3), which a llama.cpp file cannot carry: refused, naming it. */
    @ParameterizedTest
    @CsvSource({"quarot", "quarot-rtn", "spinquant", "ostquant"})
    void rotationMethodsRefuseAKCacheOnTheGrids(String methodName) {
        LlamaWeights fp = model(256, true);
        QuantConfig config = QuantConfig.parse("Q4_0").withKv(dev.stiefel.quant.QuantSpec.kv(4, false, 0), null);
        CalibrationData cal = RandomCalibration.of(4, 24, fp.config().vocabSize(), 3);
        assertThatThrownBy(() -> Methods.byName(methodName, Methods.Options.defaults()).apply(fp, cal, config, ProgressFactory.SILENT))
                .hasMessageContainingAll(methodName, "Q4_0", "Hadamard on Q and K after RoPE");
    }

    /** OSTQuant/SpinQuant for llama.cpp keep only transforms that fold into the weights: no online Hadamard at down_proj. */
    @Test void rotationMethodsOnTheGridsFoldEveryTransform() {
        LlamaWeights fp = model(256, true);
        var onGrid = OstQuant.initialView(fp, QuantConfig.parse("Q4_K_M"), OstQuant.Options.ostquant()).fuse();
        var usual = OstQuant.initialView(fp, QuantConfig.parse("W4A16"), OstQuant.Options.ostquant()).fuse();
        assertThat(onGrid.online()).isEmpty();
        assertThat(usual.online()).isNotEmpty();
    }

    @Test void exportingWeightsNotQuantizedOnTheGridIsRefused() {
        LlamaWeights fp = model(256, true);
        QuantConfig config = QuantConfig.parse("Q8_0");
        assertThatThrownBy(() -> GgmlExport.write(fp, null, null, dir.resolve("x.gguf"), config.ggml()))
                .hasMessageContainingAll("token_embd.weight", "not quantized on the Q8_0 grids");
    }
}
