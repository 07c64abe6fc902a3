package dev.stiefel.opencl;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaModel;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.SyntheticWeights;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.PackedStorage;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.backend.Backends;
import dev.stiefel.tensor.cpu.CpuBackend;
import dev.stiefel.tensor.packed.PackedFixtures;
import dev.stiefel.tensor.packed.PackedMatrix;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Packed low-bit weights resident on the OpenCL device as they are stored (codes, scales, zero points): every bit
 * width, per-channel and grouped, symmetric and not, on odd sizes; products against the f64 reference of the
 * fake-quantized values, widened values bit for bit, what crosses the bus, and a packed model's forward pass.
 */
class PackedOnOpenClTest extends OnDevice {
    static final int[][] SHAPES = {{1, 1}, {7, 33}, {33, 100}, {257, 65}, {5, 300}};
    final Random rnd = new Random(77);

    /** Random codes, positive scales and (asymmetric) zero points: every code and zero point of the grid occurs. */
    PackedMatrix random(int rows, int cols, int bits, int groupSize, boolean symmetric) {
        int g = groupSize == 0 ? cols : groupSize, groups = (cols + g - 1) / g, max = (1 << bits) - 1;
        int[] codes = new int[rows * cols];
        for (int i = 0; i < codes.length; i++) codes[i] = rnd.nextInt(max + 1);
        float[] scales = new float[rows * groups], zeros = new float[rows * groups];
        for (int i = 0; i < scales.length; i++) {
            scales[i] = 0.01f + rnd.nextFloat() * 0.2f;
            if (!symmetric) zeros[i] = rnd.nextInt(max + 1);
        }
        return PackedMatrix.ofCodes(codes, rows, cols, bits, groupSize, symmetric, scales, zeros);
    }

    /** x·Wᵀ in f64 from W's f32 values (the fake-quantized matrix) and x's: [tokens, rows], and Σ|x·w| per entry. */
    static double[][] reference(float[] x, int tokens, PackedMatrix w) {
        float[] v = w.dequantize();
        int rows = w.rows(), cols = w.cols();
        double[] y = new double[tokens * rows], mag = new double[tokens * rows];
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++) {
                double s = 0, a = 0;
                for (int j = 0; j < cols; j++) {
                    double p = (double) x[t * cols + j] * v[r * cols + j];
                    s += p;
                    a += Math.abs(p);
                }
                y[t * rows + r] = s;
                mag[t * rows + r] = a;
            }
        return new double[][]{y, mag};
    }

    @Test
    void productsMatchTheF64ReferenceOfTheFakeQuantizedValues() {
        for (int bits : new int[]{2, 3, 4, 8})
            for (int groupSize : new int[]{0, 32, 64})
                for (boolean symmetric : new boolean[]{true, false})
                    for (int[] s : SHAPES)
                        for (int tokens : new int[]{1, 3, OpenClBackend.PACKED_GEMV_ROWS, OpenClBackend.PACKED_GEMV_ROWS + 1, 17}) {
                            PackedMatrix w = random(s[0], s[1], bits, groupSize, symmetric);
                            Tensor x = Tensor.uniform(rnd, -2, 2, tokens, s[1]);
                            Tensor dw = cl.resident(PackedStorage.tensor(w));
                            assertThat(dw.storage()).isInstanceOf(ClPackedStorage.class);
                            String what = "int" + bits + " g" + groupSize + (symmetric ? " sym " : " asym ") + s[0] + "x" + s[1] + ", " + tokens + " tokens";
                            for (Tensor xf : new Tensor[]{x, cl.resident(x)}) {
                                Tensor y = cl.matmul(xf, dw.t(), new int[]{tokens, s[0]});
                                assertThat(y.isOnDevice()).isTrue();
                                assertMatches(y.toFloatArray(), reference(x.toFloatArray(), tokens, w), what);
                            }
                        }
    }

    /** Every entry within f32 rounding of its sum's order: 1e-5 of Σ|x·w| (a few hundred terms at most here). */
    static void assertMatches(float[] got, double[][] ref, String what) {
        assertThat(got).as(what).hasSize(ref[0].length);
        for (int i = 0; i < got.length; i++)
            assertThat((double) got[i]).as(what + ", entry " + i).isCloseTo(ref[0][i], org.assertj.core.data.Offset.offset(1e-5 * ref[1][i] + 1e-30));
    }

    @Test
    void rowsWithBatchDimsGoThroughTheSameProducts() {
        PackedMatrix w = random(33, 100, 4, 32, false);
        Tensor dw = cl.resident(PackedStorage.tensor(w));
        for (int[] lead : new int[][]{{2, 3}, {3, 5}}) { // 6 rows: packed_gemv; 15: sgemm on the widened weight
            int tokens = lead[0] * lead[1];
            Tensor x = Tensor.uniform(rnd, -1, 1, lead[0], lead[1], 100);
            Tensor y = cl.matmul(cl.resident(x), dw.t(), new int[]{lead[0], lead[1], 33});
            assertThat(y.shape()).containsExactly(lead[0], lead[1], 33);
            assertMatches(y.toFloatArray(), reference(x.toFloatArray(), tokens, w), lead[0] + "x" + lead[1] + " rows");
        }
    }

    @Test
    void aResidentPackedWeightReadsAsItsValuesBitForBit() {
        for (int bits : new int[]{2, 3, 4, 8}) {
            PackedMatrix w = random(7, 70, bits, 32, bits % 2 == 0);
            Tensor host = PackedStorage.tensor(w), dw = cl.resident(host);
            assertThat(dw.toFloatArray()).as("int%d widened", bits).containsExactly(w.dequantize());
            assertThat(dw.t().toFloatArray()).as("its transpose").containsExactly(host.t().toFloatArray());
            assertThat(dw.narrow(1, 5, 40).toFloatArray()).as("a slice").containsExactly(host.narrow(1, 5, 40).toFloatArray());
            assertThat(dw.t().contiguous().storage()).as("a view made contiguous, on the device").isInstanceOf(ClStorage.class);
            assertThat(dw.t().contiguous().toFloatArray()).as("its transpose made contiguous").containsExactly(host.t().contiguous().toFloatArray());
            assertThat(dw.mul(2f).toFloatArray()).as("an element-wise op on it").containsExactly(host.mul(2f).toFloatArray());
            assertThat(dw.get(3, 41)).isEqualTo(w.value(3, 41));
        }
    }

    @Test
    void aPackedWeightGoesUpOnceAsStoredAndAProductMovesNothingBack() {
        PackedMatrix w = random(257, 300, 4, 128, false);
        Transfers start = cl.transfers();
        Tensor dw = cl.resident(PackedStorage.tensor(w));
        Transfers up = cl.transfers().minus(start);
        assertThat(up.uploads()).as("codes, scales, zero points").isEqualTo(3);
        assertThat(up.uploadBytes()).as("the stored bytes, not f32").isEqualTo(w.bytes()).isLessThan(4L * 257 * 300 / 6);
        assertThat(cl.resident(dw)).as("resident again: itself").isSameAs(dw);
        try (var scope = cl.scope()) {
            Tensor x = cl.resident(Tensor.uniform(rnd, -1, 1, 20, 300));
            Transfers before = cl.transfers();
            cl.matmul(x, dw.t(), new int[]{20, 257});
            cl.matmul(x.narrow(0, 0, 1), dw.t(), new int[]{1, 257});
            assertThat(cl.transfers().minus(before)).as("prefill and decode products on the device").isEqualTo(new Transfers(0, 0, 0, 0));
        }
    }

    @Test
    void aModelWithPackedLinearsRunsOnTheDeviceAsOnTheCpu() {
        LlamaConfig c = LlamaOnOpenClTest.C;
        LlamaWeights f32 = SyntheticWeights.create(c, DType.F32, 3);
        // every matrix but the embedding table packed (4-bit g32 asymmetric, the head 8-bit per channel), as quantize --save keeps them
        LlamaWeights packed = f32.map(t -> t.dim() != 2 || t == f32.embedding() ? t : pack(t, t == f32.output() ? 8 : 4, t == f32.output() ? 0 : 32));
        long stored = 0;
        for (Tensor t : packed.tensors()) if (t.storage() instanceof PackedStorage ps) stored += ps.matrix().bytes();
        assertThat(stored).isPositive();
        // 22 rows per product (a prompt: sgemm on the widened codes) and 5 (packed_gemv on the codes)
        for (Tensor ids : new Tensor[]{LlamaOnOpenClTest.ids(4, 2, 11), LlamaOnOpenClTest.ids(5, 1, 5)}) {
            Backends.use(CpuBackend.INSTANCE);
            Tensor cpu = new LlamaModel(packed).forward(ids, null).value();
            Backends.use(cl);
            try (var scope = cl.scope()) {
                LlamaWeights resident = packed.map(cl::resident);
                Transfers start = cl.transfers();
                Tensor gpu = new LlamaModel(resident).forward(ids, null).value();
                Transfers moved = cl.transfers().minus(start);
                assertThat(moved.uploadBytes()).as("token ids and masks, no weights: " + moved).isLessThan(stored / 10);
                assertThat(moved.downloads()).isZero();
                assertThat(LlamaOnOpenClTest.relativeError(gpu, cpu)).as(ids.size(1) + " tokens").isLessThan(1e-5);
            }
        }
    }

    /** t round-to-nearest on the min-max grid of each row (groupSize 0) or group, asymmetric, as packed codes. */
    static Tensor pack(Tensor t, int bits, int groupSize) {
        return PackedStorage.tensor(PackedFixtures.fit(t.toFloatArray(), t.size(0), t.size(1), bits, groupSize, false).packed());
    }
}
