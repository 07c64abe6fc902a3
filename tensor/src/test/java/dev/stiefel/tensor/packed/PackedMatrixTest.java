package dev.stiefel.tensor.packed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The layout, the quantization rule and the decoders of {@link PackedMatrix}. */
class PackedMatrixTest {
    private static final int[] BITS = {2, 3, 4, 8};
    private static final int[] SIZES = {1, 7, 33, 257};
    private static final int[] GROUPS = {0, 32, 64, 128};

    /** Dequantized values are the fake quantizer's bit for bit; codes read back as written; the vector decoders agree with the scalar reader. */
    @Test void dequantizesToTheFakeQuantizedValues() {
        Random rnd = new Random(1);
        for (int bits : BITS)
            for (int rows : new int[]{1, 7})
                for (int cols : SIZES)
                    for (int g : GROUPS)
                        for (boolean sym : new boolean[]{true, false}) {
                            PackedFixtures.Case c = PackedFixtures.random(rnd, rows, cols, bits, g, sym);
                            float[] deq = c.packed().dequantize();
                            for (int r = 0; r < rows; r++)
                                for (int j = 0; j < cols; j++) {
                                    String where = "int" + bits + (sym ? " sym" : " asym") + " g" + g + " " + rows + "x" + cols + " (" + r + ", " + j + ")";
                                    assertThat(Float.floatToRawIntBits(deq[r * cols + j])).as(where).isEqualTo(Float.floatToRawIntBits(c.fake(r, j)));
                                    assertThat(c.packed().value(r, j)).as(where).isEqualTo(deq[r * cols + j]);
                                }
                        }
    }

    /** Every code of every width survives packing, and row pieces starting anywhere decode as the whole row does. */
    @Test void codesRoundTripAndRowPiecesMatchTheWholeRow() {
        Random rnd = new Random(2);
        for (int bits : BITS) {
            int rows = 3, cols = 101;
            int[] codes = new int[rows * cols];
            for (int i = 0; i < codes.length; i++) codes[i] = i < (1 << bits) ? i : rnd.nextInt(1 << bits);
            float[] scales = {0.5f, 0.25f, 2f, 1f, 3f, 0.125f}, zeros = new float[6];
            for (int i = 0; i < zeros.length; i++) zeros[i] = rnd.nextInt(1 << bits);
            PackedMatrix p = PackedMatrix.ofCodes(codes, rows, cols, bits, 64, false, scales, zeros);
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < cols; j++) assertThat(p.code(r, j)).as("int%d (%d, %d)", bits, r, j).isEqualTo(codes[r * cols + j]);
            float[] whole = p.dequantize();
            for (int r = 0; r < rows; r++)
                for (int from : new int[]{0, 1, 31, 32, 33, 70})
                    for (int len : new int[]{0, 1, 5, 31, 32, 64}) {
                        if (from + len > cols) continue;
                        float[] piece = new float[len + 2];
                        p.row(r, from, len, piece, 1);
                        for (int e = 0; e < len; e++) assertThat(piece[1 + e]).isEqualTo(whole[r * cols + from + e]);
                        assertThat(piece[0]).isZero();
                        assertThat(piece[len + 1]).isZero();
                    }
        }
    }

    /** The documented bit positions: one element set to its largest code lands where docs/FORMAT.md says. */
    @Test void layoutIsTheDocumentedOne() {
        assertThat(singleCodeBytes(4, 0)).containsExactly(0, 0x0F);     // word 0, bit 0
        assertThat(singleCodeBytes(4, 1)).containsExactly(4, 0x0F);     // word 0, bit 32
        assertThat(singleCodeBytes(4, 2)).containsExactly(0, 0xF0);     // word 0, bit 4
        assertThat(singleCodeBytes(4, 17)).containsExactly(12, 0x0F);   // word 1, bit 32
        assertThat(singleCodeBytes(2, 5)).containsExactly(4, 0x30);     // bit 32 + 4
        assertThat(singleCodeBytes(2, 30)).containsExactly(3, 0xC0);    // bit 30
        assertThat(singleCodeBytes(3, 9)).containsExactly(5, 0x03, 9, 0x02);   // low bits at 32 + 8, high bit 64 + 9
        assertThat(singleCodeBytes(8, 19)).containsExactly(19, 0xFF);
    }

    /** {index, value} pairs of the non-zero bytes of a one-block row whose only non-zero code is element e's. */
    private static int[] singleCodeBytes(int bits, int e) {
        int[] codes = new int[32];
        codes[e] = (1 << bits) - 1;
        PackedMatrix p = PackedMatrix.ofCodes(codes, 1, 32, bits, 0, true, new float[]{1}, new float[]{0});
        byte[] b = p.codes().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        java.util.List<Integer> out = new java.util.ArrayList<>();
        for (int i = 0; i < b.length; i++) if (b[i] != 0) { out.add(i); out.add(b[i] & 0xFF); }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    @Test void badInputIsRefusedWithWhatWasExpected() {
        float[] one = {1};
        assertThatThrownBy(() -> PackedMatrix.ofCodes(new int[4], 1, 4, 5, 0, true, one, new float[1]))
                .hasMessageContaining("5 bits").hasMessageContaining("2, 3, 4 or 8");
        assertThatThrownBy(() -> PackedMatrix.ofCodes(new int[64], 1, 64, 4, 48, true, new float[2], new float[2]))
                .hasMessageContaining("group size 48");
        assertThatThrownBy(() -> PackedMatrix.ofCodes(new int[]{16}, 1, 1, 4, 0, true, one, new float[1]))
                .hasMessageContaining("code 16 at (0, 0)");
        assertThatThrownBy(() -> PackedMatrix.ofCodes(new int[]{1}, 1, 1, 4, 0, false, one, new float[]{2.5f}))
                .hasMessageContaining("zero point 2.5");
        assertThatThrownBy(() -> PackedMatrix.of(MemorySegment.ofArray(new byte[15]), 1, 33, 4, 0, true, one, null))
                .hasMessageContaining("15 bytes of codes, expected 32");
        assertThatThrownBy(() -> PackedMatrix.of(MemorySegment.ofArray(new byte[32]), 1, 33, 4, 32, true, one, null))
                .hasMessageContaining("1 scales, expected 2");
        assertThatThrownBy(() -> PackedMatrix.of(MemorySegment.ofArray(new byte[16]), 1, 32, 4, 0, false, one, new byte[]{(byte) 16}))
                .hasMessageContaining("zero point 16");
        assertThatThrownBy(() -> PackedMatrix.of(MemorySegment.ofArray(new byte[16]), 1, 32, 4, 0, true, new float[]{Float.NaN}, null))
                .hasMessageContaining("not finite");
    }
}
