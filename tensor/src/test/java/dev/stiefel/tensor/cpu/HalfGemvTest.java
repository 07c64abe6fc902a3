package dev.stiefel.tensor.cpu;

import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Half;
import dev.stiefel.tensor.MappedFile;
import dev.stiefel.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

class HalfGemvTest {
    @TempDir Path dir;

    /** Every one of the 65,536 bit patterns widens to what the scalar conversion gives (NaNs stay NaN). */
    @Test void vectorWideningMatchesScalarConversionForEveryBitPattern() {
        VectorSpecies<Short> s = VectorSpecies.of(short.class, VectorShape.forBitSize(FloatVector.SPECIES_PREFERRED.vectorBitSize() / 2));
        int lanes = s.length();
        short[] bits = new short[lanes];
        float[] out = new float[lanes];
        for (boolean bf16 : new boolean[]{true, false})
            for (int start = 0; start < 65536; start += lanes) {
                for (int i = 0; i < lanes; i++) bits[i] = (short) (start + i);
                HalfGemv.widen(ShortVector.fromArray(s, bits, 0), bf16).intoArray(out, 0);
                for (int i = 0; i < lanes; i++) {
                    float expected = bf16 ? Half.bf16ToFloat(bits[i]) : Half.f16ToFloat(bits[i]);
                    if (Float.isNaN(expected)) assertThat(out[i]).as("bits %04x", bits[i] & 0xffff).isNaN();
                    else assertThat(Float.floatToRawIntBits(out[i])).as("bits %04x bf16 %s", bits[i] & 0xffff, bf16)
                            .isEqualTo(Float.floatToRawIntBits(expected));
                }
            }
    }

    /**
     * The decode kernel's widening of a 32-bit lane's two halves, for every bit pattern in each half: the low half
     * whatever the high one holds, and the high half whatever the low one holds (NaNs stay NaN).
     */
    @Test void pairWideningMatchesScalarConversionForEveryBitPattern() {
        VectorSpecies<Integer> s = IntVector.SPECIES_PREFERRED;
        int lanes = s.length();
        int[] bits = new int[lanes];
        float[] low = new float[lanes], high = new float[lanes];
        for (boolean bf16 : new boolean[]{true, false})
            for (int start = 0; start < 65536; start += lanes) {
                for (int i = 0; i < lanes; i++) bits[i] = (start + i) | (65535 - start - i) << 16;
                IntVector v = IntVector.fromArray(s, bits, 0);
                HalfGemv.low(v, bf16).intoArray(low, 0);
                HalfGemv.high(v, bf16).intoArray(high, 0);
                for (int i = 0; i < lanes; i++) {
                    expectWidened(low[i], (short) bits[i], bf16);
                    expectWidened(high[i], (short) (bits[i] >>> 16), bf16);
                }
            }
    }

    private static void expectWidened(float actual, short bits, boolean bf16) {
        float expected = bf16 ? Half.bf16ToFloat(bits) : Half.f16ToFloat(bits);
        if (Float.isNaN(expected)) assertThat(actual).as("bits %04x", bits & 0xffff).isNaN();
        else assertThat(Float.floatToRawIntBits(actual)).as("bits %04x bf16 %s", bits & 0xffff, bf16).isEqualTo(Float.floatToRawIntBits(expected));
    }

    /** x·Wᵀ with W in 16 bits, on the heap and memory-mapped, against an f64 reference over the widened values. */
    @ParameterizedTest(name = "{0} m={1} k={2} n={3}")
    @CsvSource({"BF16,1,1,5", "BF16,1,257,33", "F16,3,33,7", "F16,4,7,257", "BF16,2,96,64",
                // prefill: more rows than the decode kernel takes, W widened into Sgemm's A panels
                "BF16,5,7,33", "F16,7,33,70", "BF16,40,257,33", "BF16,37,1000,50", "F16,33,1,257"})
    void fewRowsTimesHalfWeightMatchTheReference(DType dtype, int m, int k, int n) throws IOException {
        Random rnd = new Random(m * 31L + k * 7L + n);
        Tensor x = Tensor.randn(rnd, m, k);
        Tensor w = Tensor.randn(rnd, n, k).to(dtype);
        double[][] ref = new double[m][n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int e = 0; e < k; e++) s += (double) x.get(i, e) * w.get(j, e);
                ref[i][j] = s;
            }
        check(x.matmul(w.t()), ref, k);

        // the same bits memory-mapped at an odd 2-byte offset
        Path file = dir.resolve("w.bin");
        ByteBuffer buf = ByteBuffer.allocate(2 + 2 * n * k).order(ByteOrder.LITTLE_ENDIAN);
        buf.putShort((short) 0);
        for (int j = 0; j < n; j++) for (int e = 0; e < k; e++) buf.putShort(dtype == DType.BF16 ? Half.floatToBf16(w.get(j, e)) : Half.floatToF16(w.get(j, e)));
        Files.write(file, buf.array());
        try (MappedFile mf = MappedFile.open(file)) {
            check(x.matmul(mf.tensor(2, dtype, n, k).t()), ref, k);
        }
    }

    /** A row's value does not depend on the rows computed around it (as when the rows are split over threads). */
    @Test void aRowSumsTheSameAloneAsAmongOthers() {
        Random rnd = new Random(5);
        int n = 11, k = 1000;
        short[] w = new short[n * k];
        for (int i = 0; i < w.length; i++) w[i] = Half.floatToBf16((float) rnd.nextGaussian());
        float[] a = new float[2 * k];
        for (int i = 0; i < a.length; i++) a[i] = (float) rnd.nextGaussian();
        float[] all = new float[2 * n];
        HalfGemv.run(a, 0, 2, k, w, null, 0, k, DType.BF16, n, all, 0, 1);
        for (int j = 0; j < n; j++) {
            float[] one = new float[2];
            HalfGemv.run(a, 0, 2, k, w, null, (long) j * k, k, DType.BF16, 1, one, 0, 1);
            for (int i = 0; i < 2; i++) assertThat(Float.floatToRawIntBits(all[i * n + j])).as("row %d, token %d", j, i).isEqualTo(Float.floatToRawIntBits(one[i]));
        }
    }

    /**
     * The prefill product with W widened into the A panels gives the bits of the f32 product of the widened W when
     * k fits one slice (every tile sums one fma chain from zero); over several slices it agrees to f32 rounding.
     */
    @Test void prefillEqualsTheProductOfTheWidenedWeight() {
        Random rnd = new Random(6);
        for (int k : new int[]{700, 1500}) {
            Tensor x = Tensor.randn(rnd, 45, k), w = Tensor.randn(rnd, 70, k).to(DType.BF16);
            float[] y = x.matmul(w.t()).toFloatArray(), f32 = x.matmul(w.to(DType.F32).t()).toFloatArray();
            if (k <= Sgemm.KC) assertThat(y).isEqualTo(f32);
            else for (int i = 0; i < y.length; i++) assertThat(y[i]).isCloseTo(f32[i], org.assertj.core.data.Offset.offset(1e-5f * (float) Math.sqrt(k)));
        }
    }

    private static void check(Tensor y, double[][] ref, int k) {
        for (int i = 0; i < ref.length; i++)
            for (int j = 0; j < ref[i].length; j++)
                assertThat((double) y.get(i, j)).isCloseTo(ref[i][j], org.assertj.core.data.Offset.offset(1e-5 * Math.sqrt(k) * 4));
    }
}
