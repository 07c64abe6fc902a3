package dev.stiefel.quant.method;

import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.llama.testing.LogitError;
import dev.stiefel.quant.RandomCalibration;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.io.HuggingFaceLoader;
import dev.stiefel.quant.pipeline.Method;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.quant.pipeline.Report;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.flat.FlatQuant;
import dev.stiefel.quant.omni.OmniQuant;
import dev.stiefel.quant.transform.EquivalenceCheck;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;
import dev.stiefel.tensor.linalg.Linalg;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The quantize pipeline end to end on the Qwen2 and Qwen3 checkpoints transformers wrote ({@code ../shared/models/hf-reference}):
 * the fused transforms of QuaRot and of OSTQuant/SpinQuant's view (random rotations and scales) are exact in f64 on the
 * real weights, and RTN, GPTQ, SmoothQuant, AWQ, QuaRot, OSTQuant, SpinQuant, OmniQuant and FlatQuant run, report their equivalence before
 * quantizing and the transforms they skipped, and give a model near the original.
 */
class QwenReferencePipelineTest {

    private static LlamaWeights load(String name) throws IOException {
        Path p = Path.of(System.getProperty("stiefel.shared", "../shared")).resolve("models/hf-reference").resolve(name);
        Assumptions.assumeTrue(Files.isRegularFile(p.resolve("config.json")), "shared folder " + p + " is absent");
        return HuggingFaceLoader.load(p);
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen2-f32", "qwen3-f32"})
    void fusedTransformsAreExactInF64OnTheRealWeights(String name) throws IOException {
        try (LlamaWeights fp = load(name)) {
            LlamaConfig c = fp.config();
            Random rnd = new Random(3);
            EquivalenceCheck.assertEquivalent(fp, QuaRot.transforms(c, QuaRot.Options.defaults(), true), rnd);
            DMatrix[] heads = new DMatrix[c.layers()];
            for (int l = 0; l < c.layers(); l++) heads[l] = Linalg.randomOrthogonal(c.headDim(), new Random(10 + l));
            for (OstQuantView.Options o : List.of(OstQuantView.Options.ostquant(true), OstQuantView.Options.spinquant(true))) {
                OstQuantView v = new OstQuantView(fp, o, Linalg.randomOrthogonal(c.dim(), new Random(7)), heads);
                v.setLogScales(rnd, 0.5);
                EquivalenceCheck.assertEquivalent(fp, v.pipeline(), rnd);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen2-f32", "qwen3-f32"})
    void everyMethodRunsEndToEnd(String name) throws IOException {
        try (LlamaWeights fp = load(name)) {
            LlamaConfig c = fp.config();
            CalibrationData calib = RandomCalibration.of(2, 16, c.vocabSize(), 1);
            List<Tensor> eval = RandomModels.sequences(new Random(2), 1, 24, c.vocabSize());
            Map<String, Method> methods = new java.util.LinkedHashMap<>();
            methods.put("rtn", new Rtn());
            methods.put("gptq", new Gptq());
            methods.put("smoothquant", new SmoothQuant(new SmoothQuant.Options(0.5, SmoothQuant.Level.O1)));
            methods.put("awq", new Awq());
            methods.put("quarot-rtn", QuaRot.rtn());
            methods.put("quarot-gptq", QuaRot.gptq());
            methods.put("ostquant", new OstQuant("ostquant-rtn", OstQuant.Options.ostquant().withEpochs(1).withBatch(2).withGptq(false)));
            methods.put("spinquant", new OstQuant("spinquant-rtn", OstQuant.Options.spinquant().withEpochs(1).withBatch(2).withGptq(false)));
            methods.put("omniquant", new OmniQuant(OmniQuant.Options.defaults().withEpochs(1).withLet(true)));
            methods.put("flatquant", FlatQuant.flatquant(FlatQuant.Options.defaults().withEpochs(1).withBatch(1)));
            for (var e : methods.entrySet()) {
                QuantConfig config = QuantConfig.parse(List.of("rtn", "gptq", "awq").contains(e.getKey()) ? "W4A16" : "W4A8KV8");
                QuantizedModel q = e.getValue().apply(fp, calib, config, ProgressFactory.SILENT);
                double err = LogitError.relative(new LlamaModel(fp), q.model(), eval);
                assertThat(err).as("%s on %s", e.getKey(), name).isFinite().isPositive().isLessThan(0.5);
                Report report = q.report();
                if (report.has(Report.Transformed.class))
                    assertThat(report.section(Report.Transformed.class).equivalenceBeforeQuantization().relative()).as("%s fused f32 vs original", e.getKey()).isLessThan(1e-4);
                if (e.getKey().equals("ostquant"))
                    assertThat(report.skipped().containsKey("qk_scaling")).as("Q→K scaling skipped on Qwen3 only").isEqualTo(c.architecture().qkNorm());
                if (e.getKey().equals("omniquant"))
                    assertThat(report.skipped().containsKey("let_qk")).as("LET's Q→K skipped on Qwen3 only").isEqualTo(c.architecture().qkNorm());
            }
        }
    }
}
