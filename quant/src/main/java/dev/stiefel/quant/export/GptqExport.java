package dev.stiefel.quant.export;

import dev.stiefel.quant.Linears;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.llama.Hooks.Linear;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.io.GptqCheckpoint;
import dev.stiefel.llama.io.RopePermutation;
import dev.stiefel.quant.QuantSpec.Granularity;
import dev.stiefel.quant.pipeline.QuantizedModel;
import dev.stiefel.tensor.Half;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A weight-only {@link QuantizedModel} as a GPTQ-format checkpoint ({@link GptqCheckpoint}). The model holds only the
 * fake-quantized weights, so the grid of each linear is found again from them ({@link GridFit}: a scale and integer
 * levels per row and group that reproduce every element bit for bit), whatever chose them: RTN, GPTQ with static or
 * dynamic groups, AWQ's and OmniQuant's clipping, rotations folded into the weights. A matrix whose groups are not
 * consecutive columns (GPTQ's act-order without static groups) is refused with the group that is off the grid.
 *
 * <p>Scales are stored in f16, as the format has them. The codes are the method's; the f16 scale differs from the f32
 * one by at most 2^−11 relative, so the file's weights (q − z) · s16 may differ from the evaluated ones by that much:
 * {@link Result#maxWeightChange()} says by how much, and the CLI measures the file's perplexity by reading it back.
 */
public final class GptqExport {
    private GptqExport() {}

    /** What was written: the settings, the number of linears, and the largest |file weight − evaluated weight|. */
    public record Result(GptqCheckpoint.Settings settings, int linears, double maxWeightChange) {}

    /** The GPTQ settings of {@code config}, or an error saying why the format cannot hold it. */
    public static GptqCheckpoint.Settings settings(QuantConfig config) {
        QuantSpec w = config.weight();
        if (w == null || config.ggml() != null)
            throw new IllegalArgumentException("gptq format: needs an integer weight quantization (e.g. --config w4g128), not " + config.shorthand());
        if (config.activation() != null || config.key() != null || config.value() != null)
            throw new IllegalArgumentException("gptq format: holds weight-only models; " + config.shorthand() + " also quantizes activations or the KV cache");
        if (config.quantizeEmbedding() || config.quantizeHead())
            throw new IllegalArgumentException("gptq format: the embedding and head stay unquantized in a GPTQ checkpoint; " + config.shorthand() + " quantizes them");
        if (!GptqCheckpoint.BITS.contains(w.bits()))
            throw new IllegalArgumentException("gptq format: " + w.bits() + "-bit weights; the format is written for 4 or 8 bits");
        if (w.granularity() != Granularity.PER_CHANNEL)
            throw new IllegalArgumentException("gptq format: " + w.granularity().label() + " weight scales; the format has one scale per output row and group");
        return new GptqCheckpoint.Settings(w.bits(), w.groupSize(), w.symmetric());
    }

    /** Writes {@code q} as a GPTQ checkpoint directory. */
    public static Result write(QuantizedModel q, Path dir) throws IOException {
        GptqCheckpoint.Settings s = settings(q.config());
        if (!q.foldedIntoWeights())
            throw new IllegalArgumentException("gptq format: the method leaves transforms that run at inference time (" + q.online().getFirst().describe()
                    + "); a GPTQ checkpoint cannot hold them");
        LlamaWeights quantized = RopePermutation.toLayout(q.weights(), Rope.Layout.HALF); // (a permutation of rows keeps each row's grid)
        Map<String, GptqCheckpoint.Linear> linears = new LinkedHashMap<>();
        double maxChange = 0;
        int top = (1 << s.bits()) - 1;
        for (int l = 0; l < quantized.config().layers(); l++)
            for (Linear which : Linears.BLOCK) {
                Tensor t = Linears.weight(quantized, l, which);
                int rows = t.shape()[0], cols = t.shape()[1];
                String name = Linears.name(l, which);
                float[] fq = t.toFloatArray();
                GridFit.Fit f;
                try {
                    f = GridFit.fit(fq, rows, cols, s.bits(), s.bits(), s.groupSize(), s.symmetric(), name);
                } catch (GridFit.OffGrid e) {
                    throw new IllegalArgumentException("gptq format: " + e.getMessage() + "; the format holds one scale per row and group of consecutive "
                            + "columns (GPTQ with --act-order needs --static-groups)");
                }
                int groups = f.groups();
                int[] codes = f.codes().clone(), zeros = new int[rows * groups];
                float[] scales = new float[rows * groups];
                int g = s.groupSize() == 0 ? Math.max(cols, 1) : s.groupSize();
                for (int r = 0; r < rows; r++)
                    for (int gi = 0; gi < groups; gi++) {
                        int i = r * groups + gi, j0 = gi * g, j1 = Math.min(cols, j0 + g);
                        zeros[i] = (int) f.zeros()[i] - f.qmin(); // the zero point in code units: 2^(b−1) on a symmetric grid
                        if (zeros[i] == 0) { // the v1 format stores zero − 1: move the group up one code where it has room
                            int most = 0;
                            for (int j = j0; j < j1; j++) most = Math.max(most, codes[r * cols + j]);
                            if (most < top) {
                                zeros[i] = 1;
                                for (int j = j0; j < j1; j++) codes[r * cols + j]++;
                            }
                        }
                        scales[i] = Half.f16ToFloat(Half.floatToF16(f.scales()[i]));
                        if (!(scales[i] > 0) || Float.isInfinite(scales[i]))
                            throw new IllegalArgumentException("gptq format: " + name + " row " + r + " group " + gi + " has scale " + f.scales()[i] + ", which f16 cannot hold");
                        for (int j = j0; j < j1; j++)
                            maxChange = Math.max(maxChange, Math.abs((codes[r * cols + j] - zeros[i]) * (double) scales[i] - fq[r * cols + j]));
                    }
                linears.put(name + ".weight", new GptqCheckpoint.Linear(rows, cols, codes, scales, zeros));
            }
        GptqCheckpoint.write(quantized, s, linears, dir);
        return new Result(s, linears.size(), maxChange);
    }
}
