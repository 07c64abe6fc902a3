package dev.stiefel.quant.omni;

import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.io.GgmlType;
import dev.stiefel.llama.io.ggml.BlockFormat;
import dev.stiefel.llama.io.ggml.BlockFormats;
import dev.stiefel.llama.io.ggml.FileType;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * LWC on a ggml grid: the written weight is the grid's reference rule applied to W clamped to the range LWC learned
 * (recomputed here from γ, β and each block's extremes), recorded as such for the exporter; a row that is not whole
 * blocks is stored as F16 and learns nothing.
 */
class GridClipTest {
    @Test void theFoldIsTheGridsRuleOfTheClampedWeight() {
        for (String type : new String[]{"Q4_0", "Q4_1"}) {
            QuantConfig c = QuantConfig.parse(type);
            int rows = 3, cols = 64;
            FileType.Choice choice = c.ggml().choose(0, 1, Linear.UP, cols);
            GridClip clip = new GridClip(c.ggml(), choice, rows, cols, "w", true);
            // move γ, β away from their initial value so the clamp bites differently per block
            Random rnd = new Random(3);
            for (var p : clip.parameters()) {
                float[] v = p.value().toFloatArray();
                for (int i = 0; i < v.length; i++) v[i] = (float) (rnd.nextGaussian() - 0.5);
                p.value().copyFrom(Tensor.wrap(v, p.value().shape()));
            }
            float[] w = new float[rows * cols];
            for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian();
            w[7] = 9; w[70] = -11;   // outliers the learned clip cuts
            Tensor folded = clip.fold(Tensor.wrap(w, rows, cols));
            boolean symmetric = type.equals("Q4_0");
            float[] clamped = w.clone();
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < cols / 32; j++) {
                    float max = Float.NEGATIVE_INFINITY, min = Float.POSITIVE_INFINITY;
                    for (int i = 0; i < 32; i++) { max = Math.max(max, w[r * cols + j * 32 + i]); min = Math.min(min, w[r * cols + j * 32 + i]); }
                    var params = clip.parameters();
                    float hi = (float) (max / (1 + Math.exp(-params.get(0).value().get(r * 2 + j, 0))));
                    float lo = (float) (min / (1 + Math.exp(-params.get(1).value().get(r * 2 + j, 0))));
                    if (symmetric) { hi = Math.max(hi, -lo); lo = -hi; }
                    for (int i = 0; i < 32; i++) clamped[r * cols + j * 32 + i] = Math.min(Math.max(clamped[r * cols + j * 32 + i], lo), hi);
                }
            assertThat(clamped[7]).isLessThan(9);
            BlockFormat f = BlockFormats.of(GgmlType.valueOf(type));
            float[] expected = new float[w.length];
            byte[] blocks = f.quantizeRow(clamped, 0, clamped.length);
            f.dequantize(blocks, 0, w.length / 32, expected, 0);
            assertThat(folded.toFloatArray()).as(type).isEqualTo(expected);
            assertThat(c.ggml().encoded(folded).blocks()).as(type).isEqualTo(blocks);
        }
        FileType.Choice f16 = QuantConfig.parse("Q4_0").ggml().choose(0, 1, Linear.DOWN, 100);
        assertThat(new GridClip(QuantConfig.parse("Q4_0").ggml(), f16, 2, 100, "d", true).parameters()).isEmpty();
    }
}
