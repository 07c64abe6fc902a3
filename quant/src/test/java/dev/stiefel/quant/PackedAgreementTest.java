package dev.stiefel.quant;

import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.packed.Int8Rows;
import dev.stiefel.tensor.packed.PackedMatrix;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The tensor module's packed kernels hold their own copy of the quantization rule (they cannot see this module); these
 * tests tie the two together: a packed matrix built from {@link Quantizer}'s parameters dequantizes to exactly the
 * fake-quantized weights the methods evaluate, and run-time int8 activations are exactly the A8 fake quantization.
 */
class PackedAgreementTest {

    @Test void packedWeightsDequantizeToTheFakeQuantizedWeightsBitForBit() {
        Random rnd = new Random(31);
        for (int bits : new int[]{2, 3, 4, 8})
            for (boolean symmetric : new boolean[]{true, false})
                for (int group : new int[]{0, 32, 64, 128})
                    for (int[] shape : new int[][]{{1, 128}, {7, 256}, {33, 128}}) {
                        int rows = shape[0], cols = shape[1];
                        float[] w = new float[rows * cols];
                        for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextGaussian() * (i % 17 == 0 ? 4 : 1));
                        Quantizer q = new Quantizer(QuantSpec.weights(bits, symmetric, group));
                        QuantParams p = q.fit(w, rows, cols, "w");
                        float[] fake = q.fakeQuant(Tensor.wrap(w, rows, cols), "w").toFloatArray();
                        float[] packed = PackedMatrix.quantize(w, rows, cols, bits, group, symmetric, p.scale(), p.zero()).dequantize();
                        for (int i = 0; i < fake.length; i++)
                            assertThat(Float.floatToRawIntBits(packed[i])).as("W%d %s g%d %dx%d element %d: %s vs %s", bits,
                                    symmetric ? "sym" : "asym", group, rows, cols, i, packed[i], fake[i]).isEqualTo(Float.floatToRawIntBits(fake[i]));
                    }
    }

    @Test void int8ActivationsAreTheA8FakeQuantizationBitForBit() {
        Random rnd = new Random(37);
        for (boolean symmetric : new boolean[]{true, false})
            for (int[] shape : new int[][]{{1, 7}, {5, 33}, {9, 257}}) {
                int rows = shape[0], cols = shape[1];
                float[] x = new float[rows * cols];
                for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * (i % 11 == 0 ? 20 : 1) + (symmetric ? 0 : 0.3));
                QuantSpec a8 = QuantConfig.parse("W8A8").activation().withSymmetric(symmetric);
                float[] fake = new Quantizer(a8).fakeQuant(Tensor.wrap(x, rows, cols), "x").toFloatArray();
                Int8Rows r = Int8Rows.quantize(x, 0, rows, cols, symmetric);
                for (int t = 0; t < rows; t++)
                    for (int j = 0; j < cols; j++)
                        assertThat(Float.floatToRawIntBits(r.value(t, j))).as("%s %dx%d (%d, %d)", a8, rows, cols, t, j)
                                .isEqualTo(Float.floatToRawIntBits(fake[t * cols + j]));
            }
    }
}
