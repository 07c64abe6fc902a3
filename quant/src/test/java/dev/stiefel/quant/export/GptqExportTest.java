package dev.stiefel.quant.export;

import dev.stiefel.quant.Linears;
import dev.stiefel.quant.ProgressFactory;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.RandomCalibration;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.export.GptqExport;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.io.HuggingFaceLoader;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.quant.method.Gptq;
import dev.stiefel.quant.method.QuaRot;
import dev.stiefel.quant.method.Rtn;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.IdentityHashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class GptqExportTest {
    @TempDir Path dir;

    static final LlamaConfig CONFIG = RandomModels.config(32, 64, 2, 4, 2, 41, Rope.Layout.HALF, false);

    static QuantConfig config(int bits, int group, boolean sym) {
        return new QuantConfig(QuantSpec.weights(bits, false, group).withSymmetric(sym), null, null, null, false, false);
    }

    /**
     * Random weights with, in every row and group, one element at the grid's low end and one at its high end on a
     * power of two (sym: ±qmax/2^k, asym: −(qmax−1)/2 · 2^−k and (qmax+1)/2 · 2^−k), so min-max fitting gives the scale
     * 2^−k, which f16 holds exactly: the file must then compute the evaluated model bit for bit.
     */
    static LlamaWeights f16Friendly(LlamaWeights w, int bits, int group, boolean sym) {
        int qmax = sym ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
        float step = 0.25f / ((1 << (bits - 1)));
        float lo = sym ? -qmax * step : -((qmax - 1) / 2) * step, hi = sym ? qmax * step : ((qmax + 1) / 2) * step;
        Map<Tensor, Tensor> replaced = new IdentityHashMap<>();
        for (int l = 0; l < w.config().layers(); l++)
            for (Linear which : Linears.BLOCK) {
                Tensor t = Linears.weight(w, l, which);
                int rows = t.shape()[0], cols = t.shape()[1], g = group == 0 ? cols : group;
                float[] x = t.toFloatArray();
                for (int i = 0; i < x.length; i++) x[i] = Math.max(lo * 0.9f, Math.min(hi * 0.9f, x[i]));
                for (int r = 0; r < rows; r++)
                    for (int c0 = 0; c0 < cols; c0 += g) { x[r * cols + c0] = lo; x[r * cols + c0 + 1] = hi; }
                replaced.put(t, Tensor.wrap(x, rows, cols));
            }
        return w.map(t -> replaced.getOrDefault(t, t));
    }

    @ParameterizedTest
    @CsvSource({"4, 16, false", "4, 32, true", "4, 0, true", "8, 0, false", "8, 32, true"})
    void rtnFileComputesTheEvaluatedModelBitForBit(int bits, int group, boolean sym) throws Exception {
        LlamaWeights fp = f16Friendly(RandomModels.random(CONFIG, 7), bits, group, sym);
        QuantizedModel q = new Rtn().apply(fp, null, config(bits, group, sym), ProgressFactory.SILENT);
        GptqExport.Result r = GptqExport.write(q, dir);
        assertThat(r.maxWeightChange()).isZero();
        assertThat(r.linears()).isEqualTo(14);
        assertSameLogits(q, dir);
    }

    @Test void gptqWithStaticGroupsAndPerChannelIsExact() throws Exception {
        LlamaWeights fp = f16Friendly(RandomModels.random(CONFIG, 8), 4, 16, false);
        var cal = RandomCalibration.of(2, 8, CONFIG.vocabSize(), 3);
        QuantizedModel q = new Gptq(Gptq.Options.defaults().withStaticGroups(true)).apply(fp, cal, config(4, 16, false), ProgressFactory.SILENT);
        assertThat(GptqExport.write(q, dir).maxWeightChange()).isZero();
        assertSameLogits(q, dir);
        LlamaWeights fp8 = f16Friendly(RandomModels.random(CONFIG, 8), 8, 0, true);
        QuantizedModel q8 = new Gptq().apply(fp8, cal, config(8, 0, true), ProgressFactory.SILENT);
        assertThat(GptqExport.write(q8, dir).maxWeightChange()).isZero();
        assertSameLogits(q8, dir);
    }

    /** Scales f16 does not hold: the codes are the method's, and each weight moves by at most |q − z| · |s − s16|, reported. */
    @Test void f16ScalesMoveTheWeightsByAtMostTheReportedChange() throws Exception {
        LlamaWeights fp = RandomModels.random(CONFIG, 9);
        QuantizedModel q = new Rtn().apply(fp, null, config(4, 16, true), ProgressFactory.SILENT);
        assertThat(writtenWithReportedChange(q)).isPositive();
    }

    /** Writes q, reads it back, and checks the largest weight change against the report and f16's 2^−11 bound; returns it. */
    private double writtenWithReportedChange(QuantizedModel q) throws Exception {
        GptqExport.Result r = GptqExport.write(q, dir);
        try (LlamaWeights back = HuggingFaceLoader.load(dir)) {
            LlamaWeights expected = dev.stiefel.llama.io.RopePermutation.toLayout(q.weights(), Rope.Layout.HALF);
            double max = 0, scale = 0;
            for (int l = 0; l < CONFIG.layers(); l++)
                for (Linear which : Linears.BLOCK) {
                    float[] a = Linears.weight(back, l, which).toFloatArray(), e = Linears.weight(expected, l, which).toFloatArray();
                    for (int i = 0; i < a.length; i++) { max = Math.max(max, Math.abs(a[i] - e[i])); scale = Math.max(scale, Math.abs(e[i])); }
                }
            assertThat(max).as(q.report().method()).isEqualTo(r.maxWeightChange()).isLessThanOrEqualTo(scale * 0x1p-11);
            return max;
        }
    }

    @Test void refusesWhatTheFormatCannotHold() {
        LlamaWeights fp = RandomModels.random(CONFIG, 10);
        assertThatThrownBy(() -> GptqExport.settings(QuantConfig.parse("W4A8"))).hasMessageContaining("weight-only");
        assertThatThrownBy(() -> GptqExport.settings(QuantConfig.parse("W3A16"))).hasMessageContaining("3-bit");
        assertThatThrownBy(() -> GptqExport.settings(QuantConfig.parse("Q4_0"))).hasMessageContaining("integer weight quantization");
        assertThatThrownBy(() -> GptqExport.settings(config(4, 0, true).withEmbeddingAndHead(true, false))).hasMessageContaining("embedding");
        var cal = RandomCalibration.of(2, 8, CONFIG.vocabSize(), 3);
        // act-order groups are not consecutive columns: no per-group grid of the format holds them
        QuantizedModel actOrder = new Gptq(Gptq.Options.defaults().withActOrder(true)).apply(fp, cal, config(4, 16, false), ProgressFactory.SILENT);
        assertThatThrownBy(() -> GptqExport.write(actOrder, dir)).hasMessageContaining("row").hasMessageContaining("--static-groups");
        // an asymmetric group that uses all 16 codes with zero point 0: v1 stores zero − 1, which would wrap
        LlamaWeights fp9 = RandomModels.random(CONFIG, 9); // has such a group in layer 0's o_proj
        QuantizedModel zeroZero = new Rtn().apply(fp9, null, config(4, 16, false), ProgressFactory.SILENT);
        assertThatThrownBy(() -> GptqExport.write(zeroZero, dir)).hasMessageContaining("zero point 0");
        QuantizedModel online = new QuaRot(QuaRot.Options.defaults(), false).apply(fp, cal, config(4, 0, true), ProgressFactory.SILENT);
        assertThatThrownBy(() -> GptqExport.write(online, dir)).hasMessageContaining("inference time");
    }

    /**
     * The grid is found from the evaluated weights, so methods that choose their own scales are written too: GPTQ's
     * dynamic groups (fitted on updated weights), AWQ's clipped grids. An asymmetric group whose zero point is 0 (v1
     * stores zero − 1) is moved up one code where it has room, the same values. Only f16 scale rounding moves a weight.
     */
    @Test void methodsWithTheirOwnScalesAreWrittenAsEvaluated() throws Exception {
        var cal = RandomCalibration.of(2, 8, CONFIG.vocabSize(), 3);
        LlamaWeights fp = RandomModels.random(CONFIG, 11);
        for (QuantizedModel q : new QuantizedModel[]{new Gptq().apply(fp, cal, config(4, 16, false), ProgressFactory.SILENT),
                new dev.stiefel.quant.method.Awq().apply(fp, cal, config(4, 32, true), ProgressFactory.SILENT),
                new Rtn().apply(fp, null, config(8, 32, false), ProgressFactory.SILENT)})
            writtenWithReportedChange(q);
    }

    private static void assertSameLogits(QuantizedModel q, Path dir) throws Exception {
        try (LlamaWeights back = HuggingFaceLoader.load(dir)) {
            Tensor ids = Tensor.ofInts(new int[]{1, 5, 9, 2, 40, 7, 3}, 1, 7);
            float[] expected = q.model().forward(ids, null).value().toFloatArray();
            float[] actual = new LlamaModel(back).forward(ids, null).value().toFloatArray();
            assertThat(actual).containsExactly(expected);
        }
    }
}
