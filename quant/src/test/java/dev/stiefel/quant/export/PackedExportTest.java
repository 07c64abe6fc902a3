package dev.stiefel.quant.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.stiefel.autograd.Grad;
import dev.stiefel.autograd.Var;
import dev.stiefel.llama.Hooks;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.io.LoadedModel;
import dev.stiefel.llama.io.ModelFiles;
import dev.stiefel.llama.io.ModelFormatException;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.Quantizer;
import dev.stiefel.quant.RandomCalibration;
import dev.stiefel.quant.calib.CalibrationData;
import dev.stiefel.quant.catalog.Methods;
import dev.stiefel.quant.flat.FlatQuant;
import dev.stiefel.quant.method.OstQuant;
import dev.stiefel.quant.omni.OmniQuant;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.tensor.PackedStorage;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.packed.PackedMatrix;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packed model file: every method × config written, read back, and run on the packed kernels computes the
 * evaluated (fake-quantized) model up to f32 summation order; the codes found from the evaluated weights reproduce
 * them bit for bit; what the format cannot hold is refused by name, and a file that disagrees with its section is
 * refused with the file, the tensor and what was expected.
 */
class PackedExportTest {
    // hidden 80: the down projection's rows end in a partial block of codes; interleaved Q/K rows, as llama2.c's
    private final LlamaConfig config = RandomModels.config(64, 80, 2, 4, 2, 67, Rope.Layout.INTERLEAVED, false);
    private final LlamaWeights fp = RandomModels.random(config, 31);
    private final CalibrationData calib = RandomCalibration.of(4, 32, 67, 8);
    private final List<Tensor> probe = List.of(Tensor.ofInts(RandomModels.tokens(new Random(3), 24, 67), 1, 24));
    @TempDir Path tmp;

    @Test void codesFoundFromFakeQuantizedValuesReproduceThemExactly() throws Exception {
        Random rnd = new Random(1);
        for (int bits = 2; bits <= 8; bits++)
            for (int g : new int[]{0, 32, 128})
                for (boolean sym : new boolean[]{true, false})
                    for (int[] rc : new int[][]{{1, 1}, {7, 33}, {5, 257}, {3, 80}}) {
                        String what = "int" + bits + (sym ? " sym" : " asym") + " g" + g + " " + rc[0] + "x" + rc[1];
                        float[] w = new float[rc[0] * rc[1]];
                        for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextGaussian() * (i % 13 == 0 ? 5 : 1));
                        QuantSpec spec = QuantSpec.weights(bits, sym, g);
                        float[] fq = new Quantizer(spec).fakeQuant(Tensor.wrap(w, rc), "w").toFloatArray();
                        PackedMatrix m = GridFit.pack(fq, rc[0], rc[1], bits, PackedExport.containerBits(bits), g, sym, "w");
                        assertThat(m.dequantize()).as(what).containsExactly(fq);
                    }
    }

    @Test void valuesOffAnyGridAreNamedNotPacked() {
        float[] w = {0.1f, 0.2f, 0.3f, 0.31234f, 0.5f, 0.77f, 0.9f, 1.0f};
        assertThatThrownBy(() -> GridFit.pack(w, 1, 8, 2, 2, 0, true, "layer.w"))
                .isInstanceOf(GridFit.OffGrid.class).hasMessageContaining("layer.w row 0 group 0").hasMessageContaining("2-bit grid");
        float[] nan = {1, Float.NaN};
        assertThatThrownBy(() -> GridFit.pack(nan, 1, 2, 4, 4, 0, false, "x")).hasMessageContaining("element 1 is NaN");
    }

    /** Each method with its cheapest settings; the learned ones with two steps. */
    private static Methods.Options fast() {
        return Methods.Options.defaults()
                .withOstquant(new OstQuant.Overrides(null, 2, 2, null, null, null, null, null, null, null, null, null, null, null, null))
                .withOmniquant(OmniQuant.Options.defaults().withEpochs(1))
                .withFlatquant(FlatQuant.Options.defaults().withEpochs(1));
    }

    @Test void everyMethodAndConfigRunsFromItsPackedFileAsItWasEvaluated() throws Exception {
        String[][] matrix = {
                {"rtn", "W4A16 g32", "W3A16", "W8A8", "W4A8", "W4A4KV4", "W3A3K2V2", "W6A6"},
                {"gptq", "W4A16 g32", "W3A16", "W8A8", "W4A4KV4"},
                {"awq", "W4A16 g32", "W3A16"},
                {"smoothquant", "W8A8"},
                {"omniquant", "W4A16 g32", "W3A16", "W4A4KV4"},
                {"quarot", "W4A16 g32", "W4A4KV4", "W3A3K2V2"},
                {"spinquant", "W4A4KV4"},
                {"ostquant", "W4A8", "W4A4KV4"},
                {"flatquant", "W4A4KV4", "W3A16"},
        };
        int n = 0;
        for (String[] row : matrix)
            for (int i = 1; i < row.length; i++) {
                String what = row[0] + " " + row[i];
                QuantizedModel q = Methods.byName(row[0], fast()).apply(fp, calib, QuantConfig.parse(row[i]), ProgressFactory.SILENT);
                Path dir = tmp.resolve("m" + n++);
                PackedExport.Result r = PackedExport.write(q, row[0], dir);
                assertThat(r.fallback()).as(what + ": every matrix packed").isEmpty();
                assertThat(r.packed()).as(what).isEqualTo(7 * config.layers());
                try (LoadedModel loaded = ModelFiles.load(dir)) {
                    QuantizedModel back = PackedExport.load(loaded);
                    for (var l : loaded.weights().layers())
                        assertThat(l.wq().storage()).as(what + ": codes, not f32").isInstanceOf(PackedStorage.class);
                    assertThat(back.config()).as(what).isEqualTo(q.config());
                    assertThat(relative(q, back)).as(what + ": packed logits against the evaluated model's").isLessThan(1e-4);
                }
            }
    }

    /** stories260K (llama2.c, interleaved Q/K rows) and the Hugging Face references, in f32 and bf16. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"stories260K/stories260K.bin", "hf-reference/llama-bf16", "hf-reference/qwen2-f32", "hf-reference/qwen3-bf16"})
    void realCheckpointsRunFromTheirPackedFilesAsEvaluated(String name) throws Exception {
        Path p = Path.of(System.getProperty("stiefel.shared", "../shared")).resolve("models").resolve(name);
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(p), "shared model " + p + " is absent");
        try (LoadedModel source = ModelFiles.load(p)) {
            LlamaWeights w = source.weights();
            CalibrationData c = RandomCalibration.of(2, 16, w.config().vocabSize(), 1);
            Tensor ids = Tensor.ofInts(RandomModels.tokens(new Random(4), 20, w.config().vocabSize()), 1, 20);
            for (String[] mc : new String[][]{{"gptq", "W4A16 g32"}, {"quarot", "W4A4KV4"}, {"flatquant", "W4A8"}}) {
                QuantizedModel q = Methods.byName(mc[0], fast()).apply(w, c, QuantConfig.parse(mc[1]), ProgressFactory.SILENT);
                Path dir = tmp.resolve(name.replace('/', '-') + "-" + mc[0]);
                assertThat(PackedExport.write(q, mc[0], dir).fallback()).as(name + " " + mc[0]).isEmpty();
                try (LoadedModel back = ModelFiles.load(dir)) {
                    assertThat(relative(q, PackedExport.load(back), ids)).as(name + " " + mc[0] + " " + mc[1]).isLessThan(1e-4);
                }
            }
        }
    }

    @Test void rtnStraightToCodesIsRtnsModel() {
        for (String c : new String[]{"W4A16 g32", "W8A8", "W3A16"}) {
            QuantConfig config = QuantConfig.parse(c);
            QuantizedModel direct = PackedExport.rtn(fp, config, ProgressFactory.SILENT);
            QuantizedModel rtn = Methods.byName("rtn", fast()).apply(fp, null, config, ProgressFactory.SILENT);
            for (var l : direct.weights().layers()) assertThat(l.wDown().storage()).isInstanceOf(PackedStorage.class);
            assertThat(direct.weights().layer(1).wUp().toFloatArray()).as(c).containsExactly(rtn.weights().layer(1).wUp().toFloatArray());
            assertThat(relative(rtn, direct)).as(c).isLessThan(1e-4);
        }
        assertThatThrownBy(() -> PackedExport.rtn(fp, QuantConfig.parse("W4A8").withActivation(QuantSpec.parse("int8 asym static per-tensor")), ProgressFactory.SILENT))
                .hasMessageContaining("needs calibration");
    }

    private double relative(QuantizedModel evaluated, QuantizedModel packed) { return relative(evaluated, packed, probe.getFirst()); }

    /**
     * ||a − b|| / ||a|| over the logits of {@code ids}. Weight-only, the two forward passes differ only in the products'
     * summation order. With activations or K/V quantized, a value summed in another order may land on the other side
     * of a rounding boundary (x/s = −0.5000002 against −0.49999994 was seen at 4 bits): one element moves by a whole
     * step, every layer after it sees that, and a tiny random model's logits move by percents. Such a flip is a
     * property of rounding, not a difference of models, so these configs are compared with the packed model's
     * quantized activations, Q, K and V replaced by the evaluated model's, call by call (teacher forcing): the packed
     * weights and products then see what the evaluated ones saw, and must agree to f32 rounding. That the packed
     * model's own quantizers are the evaluated ones is checked bit for bit by the writer's probe, and end to end by the
     * CLI reading the file back to the quantize table's perplexity (CliTest).
     */
    private static double relative(QuantizedModel evaluated, QuantizedModel packed, Tensor ids) {
        QuantConfig c = evaluated.config();
        boolean weightOnly = c.activation() == null && c.key() == null && c.value() == null;
        try (var off = Grad.off()) {
            float[] a, b;
            if (weightOnly) {
                a = evaluated.model().forward(ids, null).value().toFloatArray();
                b = packed.model().forward(ids, null).value().toFloatArray();
            } else {
                java.util.ArrayDeque<Tensor> seen = new java.util.ArrayDeque<>();
                Hooks record = Hooks.observing(new Hooks.Observer() {
                    @Override public void input(int layer, Hooks.Input where, Var x) { seen.add(x.value()); }
                    @Override public void query(int layer, Var q) { seen.add(q.value()); }
                    @Override public void key(int layer, Var k) { seen.add(k.value()); }
                    @Override public void value(int layer, Var v) { seen.add(v.value()); }
                });
                a = evaluated.model().withHooks(evaluated.hooks().then(record)).forward(ids, null).value().toFloatArray();
                Hooks replay = new Hooks() {
                    @Override public Var input(int layer, Input where, Var x) { return Var.of(seen.remove()); }
                    @Override public Var query(int layer, Var q) { return Var.of(seen.remove()); }
                    @Override public Var key(int layer, Var k) { return Var.of(seen.remove()); }
                    @Override public Var value(int layer, Var v) { return Var.of(seen.remove()); }
                };
                b = packed.model().withHooks(packed.hooks().then(replay)).forward(ids, null).value().toFloatArray();
                assertThat(seen).as("every recorded activation replayed").isEmpty();
            }
            double d = 0, m = 0;
            for (int i = 0; i < a.length; i++) { d += ((double) a[i] - b[i]) * ((double) a[i] - b[i]); m += (double) a[i] * a[i]; }
            return Math.sqrt(d / m);
        }
    }

    @Test void whatTheFormatCannotHoldIsRefusedBeforeAnythingIsWritten() throws Exception {
        QuantizedModel rtn = Methods.byName("rtn", fast()).apply(fp, calib, QuantConfig.parse("W4A8"), ProgressFactory.SILENT);
        QuantizedModel unknown = new QuantizedModel(rtn.weights(), rtn.hooks().then(new dev.stiefel.llama.Hooks() {
            @Override public dev.stiefel.autograd.Var key(int layer, dev.stiefel.autograd.Var k) { return k.mul(2f); }
        }), rtn.config(), rtn.online(), rtn.report());
        assertThatThrownBy(() -> PackedExport.write(unknown, "custom", tmp.resolve("custom"))).hasMessageContaining("not stored by this format yet");
        assertThat(tmp.resolve("custom")).doesNotExist();
        QuantizedModel g16 = Methods.byName("rtn", fast()).apply(fp, calib, QuantConfig.parse("W4A16 g16"), ProgressFactory.SILENT);
        assertThatThrownBy(() -> PackedExport.write(g16, "rtn", tmp.resolve("g16"))).hasMessageContaining("multiple of 32");
        assertThatThrownBy(() -> PackedExport.packing(QuantConfig.parse("W16A8"))).hasMessageContaining("nothing to pack");
    }

    @Test void aFileThatDisagreesWithItsSectionIsRefusedWithTheTensorAndWhatWasExpected() throws Exception {
        QuantizedModel q = Methods.byName("rtn", fast()).apply(fp, calib, QuantConfig.parse("W4A16 g32"), ProgressFactory.SILENT);
        Path dir = tmp.resolve("rtn");
        PackedExport.write(q, "rtn", dir);
        Path config = dir.resolve("config.json");
        String json = Files.readString(config);
        Files.writeString(config, json.replace("\"group_size\" : 32", "\"group_size\" : 64"), StandardCharsets.UTF_8);
        assertThatThrownBy(() -> ModelFiles.load(dir)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("model.safetensors").hasMessageContaining("self_attn.q_proj.scales").hasMessageContaining("needs F32 [64, 1]");
        Files.writeString(config, json.replace("\"bits\" : 4", "\"bits\" : 3"), StandardCharsets.UTF_8);
        assertThatThrownBy(() -> ModelFiles.load(dir)).isInstanceOf(ModelFormatException.class).hasMessageContaining("q_proj.codes").hasMessageContaining("needs U8");
        Files.writeString(config, json.replace("\"online\" : [ ]", "\"online\" : [ {\"site\" : \"NOWHERE\"} ]"), StandardCharsets.UTF_8);
        try (LoadedModel loaded = ModelFiles.load(dir)) {
            assertThatThrownBy(() -> PackedExport.load(loaded)).isInstanceOf(ModelFormatException.class)
                    .hasMessageContaining("config.json").hasMessageContaining("online[0]").hasMessageContaining("NOWHERE");
        }
    }
}
