package dev.stiefel.llama.io;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static dev.stiefel.llama.io.IoFixtures.assertBitIdentical;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class Llama2cTest {
    @TempDir Path dir;

    @ParameterizedTest
    @CsvSource({"LEGACY, true, 4, 2", "LEGACY, false, 4, 1", "V1, true, 2, 2", "V1, false, 6, 3"})
    void f32LayoutsRoundTripBitIdenticalAndMapped(Llama2cWriter.Version version, boolean tied, int heads, int kvHeads) throws IOException {
        LlamaConfig c = RandomModels.config(heads * 4, 37, 3, heads, kvHeads, 29, Rope.Layout.INTERLEAVED, tied);
        LlamaWeights w = RandomModels.random(c, 17, DType.F32);
        Path p = dir.resolve("m.bin");
        Llama2cWriter.write(w, p, version);
        try (LlamaWeights r = Llama2cLoader.load(p)) {
            assertThat(r.config()).isEqualTo(c);
            IoFixtures.assertSameWeights(r, w, null);
            assertThat(IoFixtures.isMapped(r.layer(2).wDown())).isTrue();
        }
        long floats = w.embedding().numel() + (tied ? 0 : w.output().numel()) + c.dim()
                + c.layers() * (2L * c.dim() + 2L * c.qDim() * c.dim() + 2L * c.kvDim() * c.dim() + 3L * c.hiddenDim() * c.dim());
        long header = version == Llama2cWriter.Version.LEGACY ? 28 : 256;
        long freqs = version == Llama2cWriter.Version.LEGACY ? 2L * c.maxSeqLen() * c.headDim() / 2 : 0;
        assertThat(Files.size(p)).as("export.py's size").isEqualTo(header + 4 * (floats + freqs));
    }

    @Test void legacyHeaderMarksAnUnsharedClassifierWithANegativeVocabulary() throws IOException {
        LlamaConfig c = RandomModels.config(8, 12, 1, 2, 1, 11, Rope.Layout.INTERLEAVED, false);
        Path p = dir.resolve("m.bin");
        Llama2cWriter.write(RandomModels.random(c, 1, DType.F32), p, Llama2cWriter.Version.LEGACY);
        int[] header = ints(p, 0, 7);
        assertThat(header).containsExactly(8, 12, 1, 2, 1, -11, 64);
        Llama2cWriter.write(RandomModels.random(c.withTiedEmbeddings(true), 1, DType.F32), p, Llama2cWriter.Version.V1);
        assertThat(ints(p, 0, 9)).containsExactly(Llama2cLoader.MAGIC, 1, 8, 12, 1, 2, 1, 11, 64);
        assertThat(Files.readAllBytes(p)[36]).as("shared flag").isEqualTo((byte) 1);
    }

    @ParameterizedTest
    @CsvSource({"true, 32", "false, 16"})
    void version2DequantizesInt8GroupsAsRunqDoes(boolean tied, int groupSize) throws IOException {
        LlamaConfig c = RandomModels.config(32, 48, 2, 4, 2, 21, Rope.Layout.INTERLEAVED, tied);
        LlamaWeights w = RandomModels.random(c, 23, DType.F32);
        Path p = dir.resolve("q.bin");
        Llama2cWriter.write(w, p, Llama2cWriter.Version.V2, groupSize);
        assertThat(ints(p, 0, 2)).containsExactly(Llama2cLoader.MAGIC, 2);
        assertThat(ByteBuffer.wrap(Files.readAllBytes(p), 37, 4).order(ByteOrder.LITTLE_ENDIAN).getInt()).as("group size").isEqualTo(groupSize);
        try (LlamaWeights r = Llama2cLoader.load(p)) {
            assertThat(r.config()).isEqualTo(c);
            var a = IoFixtures.named(r);
            IoFixtures.named(w).forEach((name, t) -> {
                if (name.contains("norm")) { assertBitIdentical(name, a.get(name), t); return; }
                float[] x = t.toFloatArray(), y = a.get(name).toFloatArray();
                for (int g = 0; g < x.length / groupSize; g++) {
                    float max = 0;
                    for (int j = 0; j < groupSize; j++) max = Math.max(max, Math.abs(x[g * groupSize + j]));
                    float scale = max / 127f;
                    for (int j = 0; j < groupSize; j++) {
                        int i = g * groupSize + j;
                        // y is an integer multiple of the group's scale, within half a step of x
                        float q = y[i] / scale;
                        assertThat(Math.abs(q - Math.round(q))).as("%s[%d] on the grid", name, i).isLessThan(1e-3f);
                        assertThat((double) Math.abs(y[i] - x[i])).as("%s[%d]", name, i).isLessThanOrEqualTo(scale * 0.5000001 + 1e-7);
                    }
                }
            });
        }
    }

    @Test void rotateHalfWeightsAreWrittenInterleaved() throws IOException {
        LlamaConfig c = RandomModels.config(16, 20, 1, 4, 2, 13, Rope.Layout.HALF, true);
        LlamaWeights w = RandomModels.random(c, 2, DType.BF16);
        Path p = dir.resolve("h.bin");
        Llama2cWriter.write(w, p, Llama2cWriter.Version.V1);
        try (LlamaWeights r = Llama2cLoader.load(p)) {
            assertThat(r.config().ropeLayout()).isEqualTo(Rope.Layout.INTERLEAVED);
            assertBitIdentical("wq", r.layer(0).wq(), RopePermutation.toInterleaved(w.layer(0).wq(), 4).to(DType.F32));
            assertBitIdentical("wk", r.layer(0).wk(), RopePermutation.toInterleaved(w.layer(0).wk(), 2).to(DType.F32));
            assertBitIdentical("w_up", r.layer(0).wUp(), w.layer(0).wUp().to(DType.F32));
        }
    }

    @Test void configsTheFormatCannotHoldAreRefused() {
        LlamaConfig eps = new LlamaConfig(8, 12, 1, 2, 1, 4, 11, 1e-6f, 10000, null, Rope.Layout.INTERLEAVED, true, 16);
        assertThatThrownBy(() -> Llama2cWriter.write(RandomModels.random(eps, 1, DType.F32), dir.resolve("x.bin"), Llama2cWriter.Version.V1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("eps 1e-5");
        LlamaConfig hd = new LlamaConfig(8, 12, 1, 2, 1, 6, 11, 1e-5f, 10000, null, Rope.Layout.INTERLEAVED, true, 16);
        assertThatThrownBy(() -> Llama2cWriter.write(RandomModels.random(hd, 1, DType.F32), dir.resolve("x.bin"), Llama2cWriter.Version.V1))
                .hasMessageContaining("head_dim");
        assertThat(dir.resolve("x.bin")).doesNotExist();
    }

    // ------------------------------------------------------------------ malformed files

    private Path valid(Llama2cWriter.Version v) throws IOException {
        LlamaConfig c = RandomModels.config(8, 12, 2, 2, 1, 11, Rope.Layout.INTERLEAVED, false);
        Path p = dir.resolve(v + ".bin");
        Llama2cWriter.write(RandomModels.random(c, 3, DType.F32), p, v, 8);
        return p;
    }

    @Test void truncatedFilesNameTheTensorThatDoesNotFit() throws IOException {
        Path p = valid(Llama2cWriter.Version.LEGACY);
        byte[] b = Files.readAllBytes(p);
        // cut inside the second layer's wk: header 28, embedding 11·8, rms_att 2·8, wq 2·8·8, wk[0] 4·8 → wk[1] starts here
        int wk1 = 4 * (7 + 88 + 16 + 128 + 32);
        Files.write(p, Arrays.copyOf(b, wk1 + 8));
        assertThatThrownBy(() -> Llama2cLoader.load(p)).isInstanceOf(ModelFormatException.class)
                .hasMessageContainingAll(p.toString(), "truncated", "tensor wk[1]", "offset " + wk1, "needs 128 bytes", "ends at " + (wk1 + 8));
        Files.write(p, Arrays.copyOf(b, 10));
        assertThatThrownBy(() -> Llama2cLoader.load(p)).hasMessageContainingAll("truncated", "header field", "offset 8");
    }

    @Test void trailingBytesAreReported() throws IOException {
        Path p = valid(Llama2cWriter.Version.V1);
        long size = Files.size(p);
        Files.write(p, new byte[12], java.nio.file.StandardOpenOption.APPEND);
        assertThatThrownBy(() -> Llama2cLoader.load(p)).isInstanceOf(ModelFormatException.class)
                .hasMessageContainingAll("end at offset " + size, "file has " + (size + 12) + " bytes", "version 1");
    }

    @Test void badHeadersAreReported() throws IOException {
        Path p = valid(Llama2cWriter.Version.LEGACY);
        patchInt(p, 12, 0); // n_heads
        assertThatThrownBy(() -> Llama2cLoader.load(p)).hasMessageContainingAll("n_heads at offset 12 is 0");
        Path q = valid(Llama2cWriter.Version.LEGACY);
        patchInt(q, 16, 3); // n_kv_heads = 3 does not divide 2 heads
        assertThatThrownBy(() -> Llama2cLoader.load(q)).isInstanceOf(ModelFormatException.class).hasMessageContaining("kvHeads (3)");
        Path v = valid(Llama2cWriter.Version.V2);
        patchInt(v, 4, 3);
        assertThatThrownBy(() -> Llama2cLoader.load(v)).hasMessageContainingAll("version 3", "offset 4");
        Path g = valid(Llama2cWriter.Version.V2);
        patchInt(g, 37, 0);
        assertThatThrownBy(() -> Llama2cLoader.load(g)).hasMessageContainingAll("group_size", "offset 37");
        Path gs = valid(Llama2cWriter.Version.V2);
        patchInt(gs, 37, 3); // 11·8 embedding elements are not a multiple of 3
        assertThatThrownBy(() -> Llama2cLoader.load(gs)).hasMessageContainingAll("tok_embeddings", "offset " + (256 + 4 * (2 * 8 + 2 * 8 + 8)), "group size 3");
    }

    private static int[] ints(Path p, int from, int n) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) out[i] = b.getInt(from + 4 * i);
        return out;
    }

    private static void patchInt(Path p, int at, int value) throws IOException {
        byte[] b = Files.readAllBytes(p);
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(at, value);
        Files.write(p, b);
    }

    @Test void writerStoresMatricesAsWritten() {
        // guard for the fixture itself: a non-contiguous view is serialized in row-major order
        Tensor t = Tensor.arange(6).reshape(2, 3).t();
        assertThat(TensorBytes.toBytes(t, DType.F32)).isEqualTo(TensorBytes.toBytes(t.contiguous(), DType.F32));
    }
}
