package dev.stiefel.llama.io.ggml;

import dev.stiefel.llama.io.GgmlType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class BlockFormatsTest {

    /** 256 values exact in f32 with an outlier of +9 at every 64th place (the same formula as the C program that made the bytes). */
    private static float[] referenceInput() {
        float[] x = new float[256];
        for (int i = 0; i < 256; i++) x[i] = (float) ((i * 37 % 101) - 50) / 16.0f * (float) (1 + i % 5) + (i % 64 == 7 ? 9.0f : 0.0f);
        return x;
    }

    /**
     * Conformance with llama.cpp itself: the bytes are what ggml-quants.c (llama.cpp commit c392e50, Feb 2025), compiled
     * with GCC, wrote with its {@code quantize_row_*_ref} for {@link #referenceInput()} (the first 32 values for the
     * legacy formats); docs/llama.md records the wider comparison.
     */
    @ParameterizedTest
    @CsvSource({
            "Q4_0, 58bf5ab9760d9977ca92329b874bb9646e98",
            "Q4_1, 003fc8c9954689f16688246dcd5377b3369a8067",
            "Q5_0, 58bb5bdad296b362db0b11de942564270f8672c9dd20",
            "Q5_1, c63ac8c9a4212d693a8c13f2cd1049ca9bb6ef777b2610ce",
            "Q8_0, 672fe5f227aaf812e0595fca09cdf03a9c0028d4167ff716b9f151ee0341cc231bf1",
            "Q4_K, cc282233aeafeeaff4f6f7f99faeffef951669815678d53d7d3367b3067b904789f4688f2668c2667cb5379b936999165688d5388d4368b9067ba0478af4788f2668c2667cb6379b93699916698156888db368bb067aa04c8af4789f2668c2667cb6379b9369991669915688d5378db30588a04688f3769fd567c26589b536999367a71567915587d4368ab266b80588",
            "Q5_K, 93240633afafefaff5f7f8f9afcfbfff32ec99368c9326ddb3249832cc9926cc932689332499328c9926ccb326d933ec4a2cd312ad00b97a0b76cf670ce6408e13f8d11f4dc194ccf97b7e3727c3322cad01ba600b76c0620cf6408e14f8d11f4dc194ccf97c7f3727c3322cc312ac011b76c0670cf6409a14f8e12f5ec294dcf97c7f3737d3432cc322ac01ba600b760900509b1ff6fc2fcacd93d902897b3145dd4e29ce21b90db76c1474cc610900",
            "Q6_K, 38cc9ce59df6e6ac5e2fb3006bc2c110c67b6b90a29b0254dca59fa0cd07a964abe58d15e6f36c2fd3006bd1c1003cb27b90829b0344dc958fa0be18a954472748824e11a692ff0b26deec50534b1677c76980939c08785a3a00999524017cea02ff991d21dfda42638f1da4fae9e34a6fa27c57884a590148c514d18aba02f0a95126d845aa9d53eb9476ad512b98461562c954bed923ba8466a915668955ae285bb56992e55b84e95ee56852a52f96876da21b68865aa1d628b58a6db21b6c46a948abab3faf42b2424f4580455153711d"})
    void referenceQuantizationMatchesLlamaCppBytes(GgmlType type, String hex) {
        BlockFormat f = BlockFormats.of(type);
        byte[] out = new byte[f.blockBytes()];
        f.quantize(referenceInput(), 0, out, 0);
        assertThat(HexFormat.of().formatHex(out)).isEqualTo(hex);
    }

    // ------------------------------------------------------------ hand-worked blocks from the documented rules

    @Test void q8_0ScalesByTheLargestMagnitudeAndRoundsHalvesAwayFromZero() {
        float[] x = new float[32];
        x[0] = -63.5f;             // amax 63.5: d = 0.5 exactly, id = 2
        x[1] = 1.25f;              // 2.5 → 3 (roundf, not rint's 2)
        x[2] = -1.25f;             // −2.5 → −3
        x[3] = 0.7f;               // 1.4 → 1
        byte[] b = quantize(GgmlType.Q8_0, x);
        assertThat(BlockFormats.f16(b, 0)).isEqualTo(0.5f);
        assertThat(new int[]{b[2], b[3], b[4], b[5], b[6]}).containsExactly(-127, 3, -3, 1, 0);
        assertThat(dequantize(GgmlType.Q8_0, b)[1]).isEqualTo(1.5f);
    }

    @Test void q4_0TakesItsScaleFromTheSignedExtremeAndOffsetsCodesBy8() {
        float[] x = new float[32];
        x[5] = -2f;                // the extreme is negative: d = −2/−8 = 0.25, so −2 is code 0 and +1.75 code 15
        x[20] = 1.75f;
        x[21] = 2f;                // beyond the grid's top: clamped to 15 (1.75)
        x[22] = 0.3f;              // 0.3·4 + 8.5 = 9.7 → 9, i.e. 0.25 (truncation after the +0.5 of the offset)
        byte[] b = quantize(GgmlType.Q4_0, x);
        assertThat(BlockFormats.f16(b, 0)).isEqualTo(0.25f);
        float[] y = dequantize(GgmlType.Q4_0, b);
        assertThat(new float[]{y[5], y[20], y[21], y[22], y[0]}).containsExactly(-2f, 1.75f, 1.75f, 0.25f, 0f);
        assertThat(b[2 + 5] & 0x0F).isZero();                 // element 5: low nibble of byte 5
        assertThat((b[2 + 4] >> 4) & 0x0F).isEqualTo(15);     // element 20: high nibble of byte 4
    }

    @Test void q4_1StoresTheMinimumAndAStepOfRangeOver15() {
        float[] x = new float[32];
        for (int j = 0; j < 32; j++) x[j] = (j % 16) - 1;   // −1 .. 14: d = 1, m = −1, code = x + 1
        byte[] b = quantize(GgmlType.Q4_1, x);
        assertThat(BlockFormats.f16(b, 0)).isEqualTo(1f);
        assertThat(BlockFormats.f16(b, 2)).isEqualTo(-1f);
        assertThat(dequantize(GgmlType.Q4_1, b)).containsExactly(x);
        for (int j = 0; j < 32; j++) assertThat(BlockFormats.of(GgmlType.Q4_1).code(b, 0, j)).isEqualTo(j % 16);
    }

    @Test void q5_0KeepsTheFifthBitInQh() {
        float[] x = new float[32];
        for (int j = 0; j < 32; j++) x[j] = -4f + 0.25f * j;   // extreme −4: d = 0.25, code = 4x + 16 = j
        byte[] b = quantize(GgmlType.Q5_0, x);
        assertThat(dequantize(GgmlType.Q5_0, b)).containsExactly(x);
        int qh = (b[2] & 0xFF) | (b[3] & 0xFF) << 8 | (b[4] & 0xFF) << 16 | (b[5] & 0xFF) << 24;
        assertThat(qh).isEqualTo(0xFFFF0000);                   // codes 16..31 are elements 16..31
    }

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q4_K", "Q5_K", "Q6_K"})
    void anAllZeroSuperBlockIsAllZeroBytes(GgmlType type) {
        byte[] b = quantize(type, new float[256]);
        assertThat(b).containsOnly(0);
        for (float v : dequantize(type, b)) assertThat(v == 0).isTrue();   // Q6_K's 0·(0 − 32) is −0
    }

    /** Q4_K's scale packing ({@code get_scale_min_k4}): sub-blocks 0-3 in the low 6 bits, 4-7 split over nibbles and top bits. */
    @Test void q4_KSixBitScalesAndMinsUnpackAsGgmlDefines() {
        byte[] s = new byte[12];
        int[] sc = {1, 63, 17, 32, 40, 5, 62, 33}, m = {0, 2, 63, 31, 48, 16, 1, 60};
        for (int j = 0; j < 8; j++) {            // packed by the layout of ggml-common.h's comment, independently of Q4_K
            if (j < 4) {
                s[j] |= (byte) sc[j];
                s[j + 4] |= (byte) m[j];
            } else {
                s[j + 4] = (byte) ((sc[j] & 15) | (m[j] & 15) << 4);
                s[j - 4] |= (byte) ((sc[j] >> 4) << 6);
                s[j] |= (byte) ((m[j] >> 4) << 6);
            }
        }
        for (int j = 0; j < 8; j++) {
            assertThat(KQuants.scale(s, 0, j)).as("scale %d", j).isEqualTo(sc[j]);
            assertThat(KQuants.min(s, 0, j)).as("min %d", j).isEqualTo(m[j]);
        }
    }

    /** Q6_K, written by hand: d = 2, every scale 3, code c gives 6·(c − 32); the code layout of ggml-common.h. */
    @Test void q6_KDequantizesAHandWrittenBlock() {
        byte[] b = new byte[210];
        BlockFormats.putF16(b, 208, 2f);
        Arrays.fill(b, 192, 208, (byte) 3);
        Random rnd = new Random(3);
        int[] codes = new int[256];
        for (int half = 0; half < 2; half++)
            for (int l = 0; l < 32; l++) {
                int[] q = new int[4];
                for (int k = 0; k < 4; k++) q[k] = codes[128 * half + 32 * k + l] = rnd.nextInt(64);
                b[64 * half + l] = (byte) ((q[0] & 15) | (q[2] & 15) << 4);
                b[64 * half + l + 32] = (byte) ((q[1] & 15) | (q[3] & 15) << 4);
                b[128 + 32 * half + l] = (byte) (q[0] >> 4 | (q[1] >> 4) << 2 | (q[2] >> 4) << 4 | (q[3] >> 4) << 6);
            }
        float[] y = dequantize(GgmlType.Q6_K, b);
        for (int i = 0; i < 256; i++) assertThat(y[i]).as("value %d", i).isEqualTo(6f * (codes[i] - 32));
    }

    // ------------------------------------------------------------ properties on random blocks

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"})
    void codesRoundTripAndNearestIsTheBestCode(GgmlType type) {
        BlockFormat f = BlockFormats.of(type);
        Random rnd = new Random(type.ordinal());
        for (int trial = 0; trial < 20; trial++) {
            float[] x = randomBlock(rnd, f.blockSize(), trial);
            byte[] b = quantize(type, x);
            byte[] copy = b.clone();
            int[] codes = new int[f.blockSize()];
            for (int i = 0; i < codes.length; i++) {
                codes[i] = rnd.nextInt(f.levels());
                f.setCode(b, 0, i, codes[i]);
            }
            for (int i = 0; i < codes.length; i++) assertThat(f.code(b, 0, i)).isEqualTo(codes[i]);
            for (int i = 0; i < codes.length; i++) f.setCode(b, 0, i, f.code(copy, 0, i));
            assertThat(b).as("setCode touches only its element's bits").isEqualTo(copy);
            for (int i = 0; i < codes.length; i++) {
                float target = (float) (x[i] + rnd.nextGaussian() * 0.1 * Math.abs(x[i]));
                int c = f.nearest(b, 0, i, target);
                double err = Math.abs((double) target - f.value(b, 0, i, c));
                for (int k = 0; k < f.levels(); k++)
                    assertThat(Math.abs((double) target - f.value(b, 0, i, k)) >= err || f.value(b, 0, i, 1) == f.value(b, 0, i, 0))
                            .as("%s trial %d element %d: code %d beats nearest %d", type, trial, i, k, c).isTrue();
            }
        }
    }

    /**
     * RTN error per format on Gaussian values: about step/√12 with step = a block's range (≈ 4σ over 32 values) over the
     * levels, e.g. 4/15/√12 ≈ 0.077 for Q4_1; the bounds leave ~15% room, and a wrong layout or scale is far above them.
     */
    @ParameterizedTest
    @CsvSource({"Q4_0, 0.10", "Q4_1, 0.09", "Q5_0, 0.05", "Q5_1, 0.045", "Q8_0, 0.006", "Q4_K, 0.085", "Q5_K, 0.045", "Q6_K, 0.022"})
    void roundTripErrorIsSmall(GgmlType type, double relRms) {
        BlockFormat f = BlockFormats.of(type);
        Random rnd = new Random(11);
        int n = 256 * 8;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
        byte[] b = f.quantizeRow(x, 0, n);
        float[] y = new float[n];
        f.dequantize(b, 0, n / f.blockSize(), y, 0);
        double num = 0, den = 0;
        for (int i = 0; i < n; i++) { num += (y[i] - x[i]) * (double) (y[i] - x[i]); den += (double) x[i] * x[i]; }
        assertThat(Math.sqrt(num / den)).isLessThan(relRms).isPositive();
    }

    @Test void rowsMustBeWholeBlocks() {
        assertThatThrownBy(() -> BlockFormats.of(GgmlType.Q4_K).quantizeRow(new float[172], 0, 172))
                .hasMessageContainingAll("Q4_K", "172", "256");
        assertThat(BlockFormats.of(GgmlType.F16)).isNull();
    }

    private static float[] randomBlock(Random rnd, int n, int trial) {
        float[] x = new float[n];
        double scale = Math.pow(10, rnd.nextInt(5) - 2);
        for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * scale);
        if (trial % 4 == 1) for (int i = 0; i < Math.min(32, n); i++) x[i] = 0;        // a zero sub-block
        if (trial % 4 == 2) for (int i = 0; i < n; i++) x[i] = Math.abs(x[i]);          // all non-negative
        return x;
    }

    private static byte[] quantize(GgmlType type, float[] x) {
        BlockFormat f = BlockFormats.of(type);
        byte[] b = new byte[f.blockBytes()];
        f.quantize(x, 0, b, 0);
        return b;
    }

    private static float[] dequantize(GgmlType type, byte[] b) {
        BlockFormat f = BlockFormats.of(type);
        float[] y = new float[f.blockSize()];
        f.dequantize(b, 0, y, 0);
        return y;
    }
}
