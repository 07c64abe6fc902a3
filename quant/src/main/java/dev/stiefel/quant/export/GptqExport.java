package dev.stiefel.quant.export;

import dev.stiefel.quant.Linears;
import dev.stiefel.quant.QuantConfig;
import dev.stiefel.quant.QuantParams;
import dev.stiefel.quant.QuantSpec;
import dev.stiefel.quant.Quantizer;
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
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A weight-only {@link QuantizedModel} as a GPTQ-format checkpoint ({@link GptqCheckpoint}). The model holds only the
 * fake-quantized weights, so the grid of each linear is found again: the weight spec's {@link Quantizer#fit} on the
 * full-precision weights (what RTN and GPTQ without dynamic groups quantize with), and each fake-quantized element's
 * code is read off that grid and checked to lie exactly on it. A method whose grid cannot be found that way (GPTQ's
 * dynamic groups fit each group on weights already updated; learned clipping; transforms folded into the weights) is
 * refused with the first element that is off the grid.
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

    /** Writes {@code q} (quantized from {@code fp}) as a GPTQ checkpoint directory. */
    public static Result write(LlamaWeights fp, QuantizedModel q, Path dir) throws IOException {
        GptqCheckpoint.Settings s = settings(q.config());
        if (!q.foldedIntoWeights())
            throw new IllegalArgumentException("gptq format: the method leaves transforms that run at inference time (" + q.online().getFirst().describe()
                    + "); a GPTQ checkpoint cannot hold them");
        LlamaWeights original = RopePermutation.toLayout(fp, Rope.Layout.HALF), quantized = RopePermutation.toLayout(q.weights(), Rope.Layout.HALF);
        Map<Tensor, String> names = new IdentityHashMap<>();
        List<Tensor> tensors = quantized.tensors();
        for (int i = 0; i < tensors.size(); i++) names.put(tensors.get(i), quantized.hfNames().get(i));
        Quantizer quantizer = new Quantizer(q.config().weight());
        Map<String, GptqCheckpoint.Linear> linears = new LinkedHashMap<>();
        double maxChange = 0;
        for (int l = 0; l < quantized.config().layers(); l++)
            for (Linear which : Linears.BLOCK) {
                Tensor t = Linears.weight(quantized, l, which);
                int rows = t.shape()[0], cols = t.shape()[1];
                String name = Linears.name(l, which);
                QuantParams p = quantizer.fit(Linears.weight(original, l, which).toFloatArray(), rows, cols, name);
                float[] fq = t.toFloatArray();
                int[] codes = new int[rows * cols], zeros = new int[rows * p.groups()];
                float[] scales = new float[rows * p.groups()];
                for (int i = 0; i < scales.length; i++) {
                    scales[i] = Half.f16ToFloat(Half.floatToF16(p.scale()[i]));
                    if (!(scales[i] > 0) || Float.isInfinite(scales[i]))
                        throw new IllegalArgumentException("gptq format: " + name + " row " + i / p.groups() + " group " + i % p.groups() + " has scale "
                                + p.scale()[i] + ", which f16 cannot hold");
                    zeros[i] = (int) p.zero()[i] - p.qmin(); // signed symmetric levels [−2^(b−1), 2^(b−1)) become unsigned with zero 2^(b−1)
                }
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < cols; c++) {
                        int k = p.index(r, c);
                        float x = fq[r * cols + c], level = Quantizer.level(x, p.scale()[k], p.zero()[k], p.qmin(), p.qmax());
                        if (Float.floatToRawIntBits((level - p.zero()[k]) * p.scale()[k]) != Float.floatToRawIntBits(x))
                            throw new IllegalArgumentException("gptq format: " + name + " [" + r + ", " + c + "] = " + x + " is not on the grid fitted to the "
                                    + "full-precision weights (scale " + p.scale()[k] + ", zero " + p.zero()[k] + "): the method chose its own scales (GPTQ with "
                                    + "groups needs --static-groups; learned clipping and folded transforms cannot be re-derived)");
                        codes[r * cols + c] = (int) level - p.qmin();
                        maxChange = Math.max(maxChange, Math.abs((codes[r * cols + c] - zeros[k]) * (double) scales[k] - x));
                    }
                linears.put(names.get(t), new GptqCheckpoint.Linear(rows, cols, codes, scales, zeros));
            }
        GptqCheckpoint.write(quantized, s, linears, dir);
        return new Result(s, linears.size(), maxChange);
    }
}
