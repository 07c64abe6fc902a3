package dev.stiefel.tensor.cpu;

import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Half;
import dev.stiefel.tensor.MappedFile;
import dev.stiefel.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
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

    /** x·Wᵀ with W in 16 bits, on the heap and memory-mapped, against an f64 reference over the widened values. */
    @ParameterizedTest(name = "{0} m={1} k={2} n={3}")
    @CsvSource({"BF16,1,1,5", "BF16,1,257,33", "F16,3,33,7", "F16,4,7,257", "BF16,2,96,64"})
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

    private static void check(Tensor y, double[][] ref, int k) {
        for (int i = 0; i < ref.length; i++)
            for (int j = 0; j < ref[i].length; j++)
                assertThat((double) y.get(i, j)).isCloseTo(ref[i][j], org.assertj.core.data.Offset.offset(1e-5 * Math.sqrt(k) * 4));
    }
}
