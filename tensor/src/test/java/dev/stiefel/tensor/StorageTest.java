package dev.stiefel.tensor;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class StorageTest {

    @Test
    void bf16RoundsToNearestEven() {
        // 1 + 2^-8 lies exactly halfway between bf16 neighbours 1 and 1 + 2^-7: ties go to the even one (1)
        assertThat(Half.bf16ToFloat(Half.floatToBf16(1f + 0x1p-8f))).isEqualTo(1f);
        // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd mantissa) and 1 + 2^-6: goes up to the even one
        assertThat(Half.bf16ToFloat(Half.floatToBf16(1f + 3 * 0x1p-8f))).isEqualTo(1f + 0x1p-6f);
        assertThat(Half.bf16ToFloat(Half.floatToBf16(1f + 0x1p-8f + 0x1p-20f))).isEqualTo(1f + 0x1p-7f);
        assertThat(Half.bf16ToFloat(Half.floatToBf16(Float.NaN))).isNaN();
        assertThat(Half.bf16ToFloat(Half.floatToBf16(Float.NEGATIVE_INFINITY))).isEqualTo(Float.NEGATIVE_INFINITY);
        assertThat(Half.bf16ToFloat(Half.floatToBf16(-0f))).isEqualTo(-0f);
    }

    @Test
    void halfConversionsAreWithinHalfAnUlp() {
        Random rnd = new Random(51);
        for (int i = 0; i < 10_000; i++) {
            float v = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(7) - 3));
            float bf = Half.bf16ToFloat(Half.floatToBf16(v));
            assertThat((double) Math.abs(bf - v)).isLessThanOrEqualTo(Math.abs(v) * 0x1p-8);
            if (Math.abs(v) > 1e-4 && Math.abs(v) < 6e4) {
                float h = Half.f16ToFloat(Half.floatToF16(v));
                assertThat((double) Math.abs(h - v)).isLessThanOrEqualTo(Math.abs(v) * 0x1p-11);
            }
        }
    }

    @Test
    void tensorsConvertBetweenDTypes() {
        Tensor x = Tensor.randn(new Random(52), 7, 33);
        for (DType dt : new DType[]{DType.F16, DType.BF16}) {
            Tensor h = x.t().to(dt);
            assertThat(h.dtype()).isEqualTo(dt);
            assertThat(h.shape()).containsExactly(33, 7);
            assertThat(h.to(DType.F32).maxAbsDiff(x.t())).isLessThan(dt == DType.F16 ? 4e-3 : 4e-2);
            assertThat(h.t().contiguous().dtype()).isEqualTo(dt);
        }
        Tensor ints = Tensor.ofInts(new int[]{3, -4}, 2);
        assertThat(ints.to(DType.F32).toFloatArray()).containsExactly(3f, -4f);
    }

    @Test
    void spilledTensorsKeepTheirValuesAndLeaveNoFileBehind(@TempDir Path dir) throws IOException {
        Random r = new Random(3);
        float[] a = new float[37 * 5], b = new float[11];
        for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
        for (int i = 0; i < b.length; i++) b[i] = i == 3 ? Float.NaN : (float) r.nextGaussian();
        Tensor ta = Tensor.wrap(a, 37, 5), tb = Tensor.wrap(b, 11);
        var out = MappedFile.spill(dir, java.util.List.of(ta, tb.reshape(1, 11), Tensor.wrap(new float[0], 0)));
        assertThat(out.get(0).storage()).isInstanceOf(MappedStorage.class);
        assertThat(out.get(0).shape()).containsExactly(37, 5);
        assertThat(out.get(1).shape()).containsExactly(1, 11);
        assertThat(out.get(2).shape()).containsExactly(0);
        for (int i = 0; i < a.length; i++) assertThat(Float.floatToRawIntBits(out.get(0).toFloatArray()[i])).isEqualTo(Float.floatToRawIntBits(a[i]));
        for (int i = 0; i < b.length; i++) assertThat(Float.floatToRawIntBits(out.get(1).toFloatArray()[i])).isEqualTo(Float.floatToRawIntBits(b[i]));
        try (var files = Files.list(dir)) {
            assertThat(files.toList()).as("the scratch file is unlinked once mapped").isEmpty();
        }
        // the other sources: a heap view at an offset, a transposed view, and mapped values (the first result spilled again)
        Tensor rows = ta.narrow(0, 30, 7), cols = ta.t();
        var again = MappedFile.spill(dir, java.util.List.of(rows, cols, out.get(0)));
        assertThat(again.get(0).toFloatArray()).as("rows 30..36").isEqualTo(rows.contiguous().toFloatArray());
        assertThat(again.get(1).shape()).containsExactly(5, 37);
        assertThat(again.get(1).toFloatArray()).as("transposed").isEqualTo(cols.contiguous().toFloatArray());
        assertThat(again.get(2).toFloatArray()).as("mapped source").isEqualTo(a);
        assertThat(again.get(0).storage().isReadOnly()).as("spilled tensors are read-only").isTrue();
        try (var files = Files.list(dir)) {
            assertThat(files.toList()).isEmpty();
        }
        assertThatThrownBy(() -> MappedFile.spill(dir, java.util.List.of(Tensor.zeros(2).to(DType.BF16))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not f32");
        try (var files = Files.list(dir)) {
            assertThat(files.toList()).as("nothing left after a refusal").isEmpty();
        }
    }

    @Test
    void mappedFileGivesTensorsWithoutCopying(@TempDir Path dir) throws IOException {
        Random rnd = new Random(53);
        float[] values = new float[7 * 33];
        for (int i = 0; i < values.length; i++) values[i] = (float) rnd.nextGaussian();
        short[] halves = new short[5];
        for (int i = 0; i < 5; i++) halves[i] = Half.floatToBf16(i + 0.5f);
        ByteBuffer buf = ByteBuffer.allocate(5 + values.length * 4 + 10).order(ByteOrder.LITTLE_ENDIAN);
        buf.put(new byte[5]); // an unaligned start, as after a safetensors header
        for (float v : values) buf.putFloat(v);
        for (short h : halves) buf.putShort(h);
        Path file = dir.resolve("weights.bin");
        Files.write(file, buf.array());

        try (MappedFile mf = MappedFile.open(file)) {
            Tensor w = mf.tensor(5, DType.F32, 7, 33);
            assertThat(w.storage().isReadOnly()).isTrue();
            assertThat(w.toFloatArray()).containsExactly(values);
            assertThat(w.t().contiguous().get(32, 6)).isEqualTo(values[6 * 33 + 32]);
            assertThat(w.exp().get(2, 3)).isEqualTo((float) Math.exp(values[2 * 33 + 3]), org.assertj.core.data.Offset.offset(1e-5f));
            Tensor b = mf.tensor(5 + values.length * 4, DType.BF16, 5);
            assertThat(b.toFloatArray()).containsExactly(0.5f, 1.5f, 2.5f, 3.5f, 4.5f);
            assertThatThrownBy(() -> w.set(1f, 0, 0)).isInstanceOf(IllegalStateException.class).hasMessageContaining("read-only");
            Tensor writable = w.copy();
            writable.set(1f, 0, 0);
            assertThat(writable.get(0, 0)).isEqualTo(1f);
            // a region past the end names the file, the offset and the sizes
            assertThatThrownBy(() -> mf.tensor(100, DType.F32, 7, 33))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("weights.bin").hasMessageContaining("[100, 1024)").hasMessageContaining(mf.byteSize() + " bytes");
        }
    }
}
