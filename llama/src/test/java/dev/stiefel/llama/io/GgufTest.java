package dev.stiefel.llama.io;

import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.llama.testing.RandomModels;
import dev.stiefel.llama.tokenizer.Vocabulary;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Half;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.stiefel.llama.io.IoFixtures.assertBitIdentical;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class GgufTest {
    @TempDir Path dir;

    // ------------------------------------------------------------------ the container

    @Test void metadataOfEveryTypeAndPlainTensorsRoundTrip() throws IOException {
        Random rnd = new Random(1);
        Tensor f32 = Tensor.randn(rnd, 7, 33), f16 = Tensor.randn(rnd, 257).to(DType.F16), bf16 = Tensor.randn(rnd, 3, 1, 5).to(DType.BF16);
        Map<String, GgufValue> kv = new java.util.LinkedHashMap<>();
        kv.put("u8", new GgufValue(GgufValue.Type.UINT8, 200, null, -1));
        kv.put("i8", new GgufValue(GgufValue.Type.INT8, -100, null, -1));
        kv.put("u16", new GgufValue(GgufValue.Type.UINT16, 60000, null, -1));
        kv.put("i16", new GgufValue(GgufValue.Type.INT16, -30000, null, -1));
        kv.put("u32", GgufValue.u32(4_000_000_000L));
        kv.put("i32", GgufValue.i32(-7));
        kv.put("f32", GgufValue.f32(1e-5f));
        kv.put("bool", GgufValue.bool(true));
        kv.put("str", GgufValue.string("héllo ▁wörld"));
        kv.put("u64", GgufValue.u64(1L << 40));
        kv.put("i64", new GgufValue(GgufValue.Type.INT64, -(1L << 50), null, -1));
        kv.put("f64", GgufValue.f64(Math.PI));
        kv.put("strs", GgufValue.strings(List.of("a", "", "ü")));
        kv.put("f32s", GgufValue.f32s(new float[]{1.5f, -0f, Float.MAX_VALUE}));
        kv.put("i32s", GgufValue.i32s(new int[]{3, -1}));
        kv.put("u8s", GgufValue.array(GgufValue.Type.UINT8, List.of(0, 255)));
        GgufWriter g = new GgufWriter().alignment(64);
        kv.forEach(g::put);
        g.addTensor("a", f32, GgmlType.F32).addTensor("b", f16, GgmlType.F16).addTensor("c", bf16, GgmlType.BF16).addTensor("d", f32, GgmlType.BF16);
        Path p = dir.resolve("m.gguf");
        g.write(p);

        try (GgufFile f = GgufFile.open(p)) {
            assertThat(f.version()).isEqualTo(3);
            assertThat(f.alignment()).isEqualTo(64);
            assertThat(f.metadata().keys()).containsExactlyElementsOf(concat("general.alignment", kv.keySet()));
            long[] previous = {f.metadata().get("general.alignment").offset()};
            assertThat(previous[0]).as("after the 24-byte header").isGreaterThan(24);
            kv.forEach((k, v) -> {
                GgufValue r = f.metadata().get(k);
                assertThat(r.type()).as(k).isEqualTo(v.type());
                assertThat(r.elementType()).as(k).isEqualTo(v.elementType());
                assertThat(r.value()).as(k).isEqualTo(v.value());
                // where each value starts: after the previous one's, in the order written
                assertThat(r.offset()).as(k).isGreaterThan(previous[0]);
                previous[0] = r.offset();
            });
            assertBitIdentical("a", f.tensor("a"), f32);
            assertBitIdentical("b", f.tensor("b"), f16);
            assertBitIdentical("c", f.tensor("c"), bf16);
            assertBitIdentical("d", f.tensor("d"), f32.to(DType.BF16));
            assertThat(f.info("a").ne()).containsExactly(33, 7); // ggml order: fastest first
            assertThat(f.dataStart() % 64).isZero();
            for (GgufFile.TensorInfo t : f.tensors()) assertThat(f.fileOffset(t) % 64).as(t.name()).isZero();
            assertThat(IoFixtures.isMapped(f.tensor("b"))).isTrue();
            assertThat(f.metadata().integer("u32")).isEqualTo(4_000_000_000L);
            assertThat(f.metadata().number("f32")).isEqualTo(1e-5f);
            assertThatThrownBy(() -> f.metadata().string("u32")).isInstanceOf(ModelFormatException.class)
                    .hasMessageContainingAll(p.toString(), "u32", "offset " + f.metadata().get("u32").offset(), "UINT32", "expected a STRING");
            assertThatThrownBy(() -> f.tensor("zz")).hasMessageContainingAll("zz", "missing");
        }
    }

    private static List<String> concat(String first, java.util.Collection<String> rest) {
        List<String> l = new java.util.ArrayList<>(List.of(first));
        l.addAll(rest);
        return l;
    }

    /** Blocks written by hand from ggml's layout (not by our quantizer): the reader must decode them exactly. */
    @Test void q8_0AndQ4_0BlocksDecodeAsGgmlDefinesThem() throws IOException {
        Raw r = new Raw().header(2, 0);
        r.info("q8", new long[]{64}, GgmlType.Q8_0.id(), 0).info("q4", new long[]{32}, GgmlType.Q4_0.id(), 96).align(32);
        ByteBuffer q8 = ByteBuffer.allocate(96).order(ByteOrder.LITTLE_ENDIAN);
        q8.putShort(Half.floatToF16(0.5f));
        for (int j = 0; j < 32; j++) q8.put((byte) (j - 16));
        q8.putShort(Half.floatToF16(-2f));
        for (int j = 0; j < 32; j++) q8.put((byte) (j % 2 == 0 ? 127 : -127));
        ByteBuffer q4 = ByteBuffer.allocate(18).order(ByteOrder.LITTLE_ENDIAN);
        q4.putShort(Half.floatToF16(0.25f));
        for (int j = 0; j < 16; j++) q4.put((byte) (j | (15 - j) << 4));
        r.bytes(q8.array()).bytes(q4.array());
        Path p = r.write(dir.resolve("blocks.gguf"));

        try (GgufFile f = GgufFile.open(p)) {
            float[] a = f.tensor("q8").toFloatArray();
            for (int j = 0; j < 32; j++) assertThat(a[j]).isEqualTo(0.5f * (j - 16));
            for (int j = 0; j < 32; j++) assertThat(a[32 + j]).isEqualTo(j % 2 == 0 ? -254f : 254f);
            float[] b = f.tensor("q4").toFloatArray();
            for (int j = 0; j < 16; j++) {
                assertThat(b[j]).as("low nibble %d", j).isEqualTo(0.25f * (j - 8));
                assertThat(b[16 + j]).as("high nibble %d", j).isEqualTo(0.25f * (15 - j - 8));
            }
        }
    }

    /**
     * Worst error in steps of the block scale amax/127 (Q8_0) or amax/8 (Q4_0). ggml rounds with the f32 scale d but
     * stores d in f16 (relative error up to 2^-11), so q·d16 misses by up to |q|·d·2^-11 on top of the rounding:
     * half a step plus 127/2048 for Q8_0; for Q4_0 the side opposite the block's extreme is clipped at +7 steps,
     * so a whole step plus 8/2048 there.
     */
    static final double Q8_STEPS = (0.5 + 127.0 / 2048) * 1.0001, Q4_STEPS = (1 + 8.0 / 2048) * 1.0001;

    @Test void quantizersReproduceRepresentableBlocksExactlyAndBoundTheErrorElsewhere() throws IOException {
        // exactly representable: Q8_0 with d = 0.5 (amax 63.5), Q4_0 with d = 0.25 (max −2)
        float[] q8exact = new float[64], q4exact = new float[64];
        for (int j = 0; j < 64; j++) {
            q8exact[j] = 0.5f * ((j * 37 % 255) - 127);
            q4exact[j] = 0.25f * ((j * 7 % 16) - 8);
        }
        q8exact[5] = 63.5f; // the block max
        q8exact[40] = -63.5f;
        q4exact[3] = -2f;
        q4exact[35] = -2f;
        Random rnd = new Random(9);
        float[] noisy = new float[32 * 41];
        for (int i = 0; i < noisy.length; i++) noisy[i] = (float) (rnd.nextGaussian() * (i % 97 == 0 ? 20 : 1));
        Arrays.fill(noisy, 64, 96, 0f); // an all-zero block: scale 0, values 0
        Path p = dir.resolve("q.gguf");
        new GgufWriter()
                .addTensor("q8exact", Tensor.wrap(q8exact, 2, 32), GgmlType.Q8_0).addTensor("q4exact", Tensor.wrap(q4exact, 64), GgmlType.Q4_0)
                .addTensor("q8", Tensor.wrap(noisy, 41, 32), GgmlType.Q8_0).addTensor("q4", Tensor.wrap(noisy, 41, 32), GgmlType.Q4_0)
                .write(p);
        try (GgufFile f = GgufFile.open(p)) {
            assertThat(f.tensor("q8exact").toFloatArray()).containsExactly(q8exact);
            assertThat(f.tensor("q4exact").toFloatArray()).containsExactly(q4exact);
            float[] q8 = f.tensor("q8").toFloatArray(), q4 = f.tensor("q4").toFloatArray();
            for (int b = 0; b < noisy.length / 32; b++) {
                float amax = 0;
                for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(noisy[b * 32 + j]));
                for (int j = 0; j < 32; j++) {
                    int i = b * 32 + j;
                    assertThat((double) Math.abs(q8[i] - noisy[i])).as("q8 %d", i).isLessThanOrEqualTo(amax / 127 * Q8_STEPS + 1e-7);
                    assertThat((double) Math.abs(q4[i] - noisy[i])).as("q4 %d", i).isLessThanOrEqualTo(amax / 8 * Q4_STEPS + 1e-7);
                }
                if (b == 2) for (int j = 0; j < 32; j++) assertThat(q8[64 + j]).isZero();
            }
            assertThat(IoFixtures.isMapped(f.tensor("q8"))).as("dequantized onto the heap").isFalse();
        }
        assertThatThrownBy(() -> new GgufWriter().addTensor("x", Tensor.zeros(4, 33), GgmlType.Q8_0))
                .hasMessageContainingAll("x", "[4, 33]", "multiple of 32");
    }

    /**
     * Conformance with llama.cpp's own quantizers: the expected bytes were produced by the numpy Q8_0/Q4_0
     * quantize_blocks of llama.cpp's gguf-py (gguf/quants.py, which its converters use and which matches ggml's C
     * reference) on the same 128 inputs; blocks 0-1 are ordinary, block 2 is all zero, block 3 has a negative extreme.
     */
    @Test void quantizedBytesMatchLlamaCppsReferenceQuantizers() throws IOException {
        float[] x = new float[128];
        for (int i = 0; i < x.length; i++) x[i] = (float) (((i * 37 % 101) - 50) / 7.0 * (1 + i % 5));
        Arrays.fill(x, 64, 96, 0f);
        x[96] = -10f;
        String q8 = "3b34e5f227aaf812e00b5fca09cdf03a9c0028d4167ff716b9f151ee0341cc231bf1243426a5f512de0a5fc609cbee3997ff28d2147ff615b5ee50ed0241c9211bef24a3"
                + "00000000000000000000000000000000000000000000000000000000000000000000eb33d8075fbe08c6e9378dfe27cc107ff414afe94eeb0040c21d1bec239aec11d905";
        String q4 = "32c45ab9760d9977ca97329b874bb9646e981bc4760e9977da97329c874bb9646f9865eb008088888888888888888888888888888888dbc3db98329c874cc9656f9866eb9770a987";
        for (GgmlType type : new GgmlType[]{GgmlType.Q8_0, GgmlType.Q4_0}) {
            Path p = dir.resolve(type + ".gguf");
            new GgufWriter().addTensor("x", Tensor.wrap(x, 4, 32), type).write(p);
            try (GgufFile f = GgufFile.open(p)) {
                byte[] bytes = java.lang.foreign.MemorySegment.ofArray(Files.readAllBytes(p))
                        .asSlice(f.fileOffset(f.info("x")), type.byteSize(128)).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                assertThat(java.util.HexFormat.of().formatHex(bytes)).as(type.name()).isEqualTo(type == GgmlType.Q8_0 ? q8 : q4);
            }
        }
    }

    // ------------------------------------------------------------------ models

    private static LlamaConfig gqa(Rope.Layout layout, boolean tied) {
        return RandomModels.config(64, 96, 2, 4, 2, 37, layout, tied);
    }

    @ParameterizedTest
    @CsvSource({"F32, false", "F16, true", "BF16, false"})
    void plainModelsRoundTripBitIdentical(GgmlType type, boolean tied) throws IOException {
        DType dtype = DType.valueOf(type.name());
        LlamaConfig c = gqa(Rope.Layout.INTERLEAVED, tied);
        LlamaWeights w = RandomModels.random(c, 4, dtype);
        Vocabulary v = IoFixtures.spmVocabulary(c.vocabSize(), new Random(2));
        Path p = dir.resolve("m.gguf");
        GgufModelWriter.write(w, v, p, type);
        try (LoadedModel m = GgufLoader.load(p)) {
            assertThat(m.format()).isEqualTo(ModelFormat.GGUF);
            assertThat(m.weights().config()).isEqualTo(c);
            var a = IoFixtures.named(m.weights());
            IoFixtures.named(w).forEach((name, t) ->   // norms are always stored as F32
                    assertBitIdentical(name, a.get(name), name.contains("norm") ? t.to(DType.F32) : t));
            assertThat(IoFixtures.isMapped(m.weights().layer(0).wq())).isTrue();
            assertSameVocabulary(m.vocabulary(), v);
        }
    }

    @ParameterizedTest
    @CsvSource({"Q8_0, 127", "Q4_0, 8"})
    void quantizedModelsDequantizeWithinTheBlockErrorBound(GgmlType type, int steps) throws IOException {
        LlamaConfig c = gqa(Rope.Layout.INTERLEAVED, false);
        LlamaWeights w = RandomModels.random(c, 6, DType.F32);
        Path p = dir.resolve("q.gguf");
        GgufModelWriter.write(w, IoFixtures.bpeVocabulary(c.vocabSize()), p, type);
        try (LoadedModel m = GgufLoader.load(p)) {
            var a = IoFixtures.named(m.weights());
            IoFixtures.named(w).forEach((name, t) -> {
                if (name.contains("norm")) { assertBitIdentical(name, a.get(name), t); return; }
                float[] x = t.toFloatArray(), y = a.get(name).toFloatArray();
                assertThat(a.get(name).shape()).isEqualTo(t.shape());
                double worst = 0;
                for (int b = 0; b < x.length / 32; b++) {
                    float amax = 0;
                    for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
                    for (int j = 0; j < 32; j++) worst = Math.max(worst, Math.abs(x[b * 32 + j] - y[b * 32 + j]) / (amax / steps));
                }
                assertThat(worst).as(name + " error in steps of the block scale").isLessThanOrEqualTo(type == GgmlType.Q8_0 ? Q8_STEPS : Q4_STEPS).isPositive();
            });
            assertSameVocabulary(m.vocabulary(), IoFixtures.bpeVocabulary(c.vocabSize()));
        }
    }

    /** Qwen2/Qwen3 as llama.cpp stores them: their own architecture keys, biases and q/k norms, rows in rotate-half order. */
    @ParameterizedTest
    @CsvSource({"QWEN2, F32, true", "QWEN2, F16, false", "QWEN3, BF16, true", "QWEN3, F32, false"})
    void qwenModelsRoundTripBitIdenticalInRotateHalfOrder(LlamaConfig.Architecture arch, GgmlType type, boolean tied) throws IOException {
        DType dtype = DType.valueOf(type.name());
        LlamaConfig c = dev.stiefel.llama.testing.RandomModels.qwen(arch, 32, 48, 2, 4, 2, 37, tied);
        LlamaWeights w = dev.stiefel.llama.testing.RandomModels.random(c, 8, dtype);
        Path p = dir.resolve("q.gguf");
        GgufModelWriter.write(w, IoFixtures.bpeVocabulary(c.vocabSize()), p, type);
        try (GgufFile f = GgufFile.open(p)) {
            String name = arch == LlamaConfig.Architecture.QWEN2 ? "qwen2" : "qwen3";
            assertThat(f.metadata().string("general.architecture")).isEqualTo(name);
            assertThat(f.metadata().size(name + ".attention.head_count_kv")).isEqualTo(2);
            assertThat(f.contains(arch == LlamaConfig.Architecture.QWEN2 ? "blk.1.attn_v.bias" : "blk.1.attn_k_norm.weight")).isTrue();
        }
        try (LoadedModel m = GgufLoader.load(p)) {
            assertThat(m.weights().config()).isEqualTo(c);
            var a = IoFixtures.named(m.weights());
            IoFixtures.named(w).forEach((n, t) ->   // norms and biases are stored as F32
                    assertBitIdentical(n, a.get(n), t.dim() == 1 ? t.to(DType.F32) : t));
        }
    }

    /** Every block format in a model file: each matrix loads as ggml's dequantization of ggml's reference blocks of it. */
    @ParameterizedTest
    @CsvSource({"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"})
    void everyBlockFormatLoadsAsItsDequantizedReferenceBlocks(GgmlType type) throws IOException {
        LlamaConfig c = dev.stiefel.llama.testing.RandomModels.config(256, 256, 1, 4, 2, 5, Rope.Layout.INTERLEAVED, false);
        LlamaWeights w = dev.stiefel.llama.testing.RandomModels.random(c, 8, DType.F32);
        Path p = dir.resolve("q.gguf");
        GgufModelWriter.write(w, null, p, type);
        var format = dev.stiefel.llama.io.ggml.BlockFormats.of(type);
        try (LoadedModel m = GgufLoader.load(p)) {
            var a = IoFixtures.named(m.weights());
            IoFixtures.named(w).forEach((name, t) -> {
                if (name.contains("norm")) return;
                float[] x = t.toFloatArray(), expected = new float[x.length];
                format.dequantize(format.quantizeRow(x, 0, x.length), 0, x.length / format.blockSize(), expected, 0);
                assertBitIdentical(name, a.get(name), Tensor.wrap(expected, t.shape()));
            });
        }
    }

    /**
     * Ready-made blocks (a method's codes) are written as given, with a rotate-half model's Q/K rows reordered like its
     * values: the loaded (interleaved) wq is the interleaved order of the blocks' dequantization.
     */
    @Test void readyMadeBlocksAreWrittenAsGivenWithQkRowsReordered() throws IOException {
        LlamaConfig c = dev.stiefel.llama.testing.RandomModels.config(64, 96, 1, 4, 2, 7, Rope.Layout.HALF, true);
        LlamaWeights w = dev.stiefel.llama.testing.RandomModels.random(c, 9, DType.F32);
        var q8 = dev.stiefel.llama.io.ggml.BlockFormats.of(GgmlType.Q8_0);
        float[] x = w.layer(0).wq().toFloatArray();
        byte[] blocks = q8.quantizeRow(x, 0, x.length);
        for (int b = 0; b < blocks.length; b += 34) q8.setCode(blocks, b, 3, 255);   // codes no reference rule would choose
        float[] deq = new float[x.length];
        q8.dequantize(blocks, 0, x.length / 32, deq, 0);
        Path p = dir.resolve("blocks.gguf");
        GgufModelWriter.write(w, null, null, p, 7, new GgufModelWriter.Encoding() {
            @Override public GgmlType type(String name) { return name.equals("blk.0.attn_q.weight") ? GgmlType.Q8_0 : GgmlType.F32; }
            @Override public byte[] blocks(String name) { return name.equals("blk.0.attn_q.weight") ? blocks : null; }
        }, Map.of("stiefel.note", GgufValue.string("hand-made")));
        try (LoadedModel m = GgufLoader.load(p); GgufFile f = GgufFile.open(p)) {
            assertBitIdentical("wq", m.weights().layer(0).wq(), RopePermutation.toInterleaved(Tensor.wrap(deq, w.layer(0).wq().shape()), c.heads()));
            assertThat(f.metadata().string("stiefel.note")).isEqualTo("hand-made");
            assertThat(f.metadata().integer("general.file_type")).isEqualTo(7);
        }
        assertThatThrownBy(() -> new GgufWriter().addBlocks("t", new int[]{2, 32}, GgmlType.Q8_0, new byte[34]))
                .hasMessageContainingAll("t", "[2, 32]", "68 bytes", "got 34");
    }

    @Test void rotateHalfWeightsAreStoredInterleaved() throws IOException {
        LlamaConfig c = gqa(Rope.Layout.HALF, true);
        LlamaWeights w = RandomModels.random(c, 12, DType.F32);
        Path p = dir.resolve("h.gguf");
        GgufModelWriter.write(w, null, p, GgmlType.F32);
        try (LoadedModel m = GgufLoader.load(p)) {
            assertThat(m.weights().config()).isEqualTo(c.withRopeLayout(Rope.Layout.INTERLEAVED));
            assertThat(m.vocabulary()).isNull();
            assertBitIdentical("wq", m.weights().layer(1).wq(), RopePermutation.toInterleaved(w.layer(1).wq(), c.heads()));
            assertBitIdentical("wk", m.weights().layer(1).wk(), RopePermutation.toInterleaved(w.layer(1).wk(), c.kvHeads()));
            assertBitIdentical("wo", m.weights().layer(1).wo(), w.layer(1).wo());
        }
    }

    @Test void llamaCppsVocabularyOnlyFileReads() throws IOException {
        Path p = IoFixtures.shared("tokenizers/llamacpp-vocab-tests/ggml-vocab-llama-spm.gguf");
        try (GgufFile f = GgufFile.open(p)) {
            assertThat(f.tensors()).isEmpty();
            Vocabulary v = GgufLoader.vocabulary(f);
            assertThat(v.kind()).isEqualTo(Vocabulary.Kind.SENTENCEPIECE);
            assertThat(v.size()).isEqualTo(32000);
            assertThat(v.tokens().subList(0, 4)).containsExactly("<unk>", "<s>", "</s>", "<0x00>");
            assertThat(v.types()[0]).isEqualTo(Vocabulary.UNKNOWN);
            assertThat(v.types()[3]).isEqualTo(Vocabulary.BYTE);
            assertThat(new int[]{v.bos(), v.eos(), v.unk()}).containsExactly(1, 2, 0);
            assertThat(v.addBos()).isTrue();
            assertThat(v.addSpacePrefix()).isTrue();
        }
    }

    /** {@link GgufModelWriter#matrices} names exactly the tensors the writer stores in the matrix type, Qwen's included. */
    @Test void theMatricesListIsWhatTheWriterQuantizes() throws IOException {
        for (LlamaConfig c : List.of(dev.stiefel.llama.testing.RandomModels.config(64, 96, 2, 4, 2, 40, Rope.Layout.HALF, false),
                dev.stiefel.llama.testing.RandomModels.qwen(LlamaConfig.Architecture.QWEN2, 64, 96, 2, 4, 2, 40, true))) {
            LlamaWeights w = dev.stiefel.llama.testing.RandomModels.random(c, 4, DType.F32);
            Path p = dir.resolve("m.gguf");
            GgufModelWriter.write(w, null, p, GgmlType.Q8_0);
            try (GgufFile f = GgufFile.open(p)) {
                assertThat(f.tensors().stream().filter(t -> t.type() == GgmlType.Q8_0).map(GgufFile.TensorInfo::name).toList())
                        .containsExactlyInAnyOrderElementsOf(GgufModelWriter.matrices(w).keySet());
            }
        }
    }

    static void assertSameVocabulary(Vocabulary actual, Vocabulary expected) {
        assertThat(actual.kind()).isEqualTo(expected.kind());
        assertThat(actual.tokens()).isEqualTo(expected.tokens());
        assertThat(actual.scores()).isEqualTo(expected.scores());
        assertThat(actual.types()).isEqualTo(expected.types());
        assertThat(actual.merges()).isEqualTo(expected.merges());
        assertThat(new int[]{actual.bos(), actual.eos(), actual.unk()}).containsExactly(expected.bos(), expected.eos(), expected.unk());
        assertThat(actual.addBos()).isEqualTo(expected.addBos());
        assertThat(actual.addSpacePrefix()).isEqualTo(expected.addSpacePrefix());
    }

    // ------------------------------------------------------------------ malformed files

    /** A GGUF file assembled byte by byte, for files our writer would never produce. */
    static final class Raw {
        private ByteBuffer b = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

        Raw header(long tensors, long kvs) { return u32(GgufFile.MAGIC).u32(3).u64(tensors).u64(kvs); }
        Raw u32(long v) { b.putInt((int) v); return this; }
        Raw u64(long v) { b.putLong(v); return this; }
        Raw str(String s) {
            byte[] x = s.getBytes(StandardCharsets.UTF_8);
            u64(x.length);
            b.put(x);
            return this;
        }
        Raw kvU32(String k, long v) { return str(k).u32(4).u32(v); }
        Raw kvStr(String k, String v) { return str(k).u32(8).str(v); }
        Raw info(String name, long[] ne, int type, long offset) {
            str(name).u32(ne.length);
            for (long n : ne) u64(n);
            return u32(type).u64(offset);
        }
        Raw align(int a) {
            while (b.position() % a != 0) b.put((byte) 0);
            return this;
        }
        Raw bytes(byte[] x) { b.put(x); return this; }
        Raw zeros(int n) { return bytes(new byte[n]); }
        int position() { return b.position(); }
        Path write(Path p) throws IOException {
            Files.write(p, Arrays.copyOf(b.array(), b.position()));
            return p;
        }
    }

    private static void assertMalformed(Path p, String... fragments) {
        assertThatThrownBy(() -> GgufFile.open(p).close()).isInstanceOf(ModelFormatException.class)
                .hasMessageStartingWith(p.toString()).hasMessageContainingAll(fragments);
    }

    @Test void headerErrorsAreReported() throws IOException {
        Path p = dir.resolve("x.gguf");
        Files.write(p, "GGML and more bytes here".getBytes(StandardCharsets.US_ASCII));
        assertMalformed(p, "not a GGUF file", "offset 0");
        assertMalformed(new Raw().u32(GgufFile.MAGIC).u32(0x03000000).u64(0).u64(0).write(dir.resolve("be.gguf")), "big-endian");
        assertMalformed(new Raw().u32(GgufFile.MAGIC).u32(1).u64(0).u64(0).write(dir.resolve("v1.gguf")), "version 1", "offset 4");
        assertMalformed(new Raw().u32(GgufFile.MAGIC).u32(3).u64(1L << 40).u64(0).write(dir.resolve("count.gguf")), "1099511627776 tensors");
        assertMalformed(new Raw().u32(GgufFile.MAGIC).u32(3).write(dir.resolve("short.gguf")), "truncated", "tensor count", "offset 8");
    }

    @Test void metadataErrorsAreReported() throws IOException {
        Raw cut = new Raw().header(0, 2).kvU32("llama.block_count", 2).str("general.name").u32(8).u64(100);
        assertMalformed(cut.write(dir.resolve("cut.gguf")), "truncated", "value of general.name", "needs 100 bytes");
        assertMalformed(new Raw().header(0, 1).str("k").u32(13).write(dir.resolve("type.gguf")), "metadata key k", "unknown value type", "offset 33");
        assertMalformed(new Raw().header(0, 1).str("k").u32(9).u32(6).u64(1L << 40).write(dir.resolve("arr.gguf")),
                "array of 1099511627776 FLOAT32", "cannot fit");
        assertMalformed(new Raw().header(0, 2).kvU32("k", 1).kvU32("k", 2).write(dir.resolve("dup.gguf")), "metadata key k", "twice");
        assertMalformed(new Raw().header(0, 1).kvU32("general.alignment", 48).write(dir.resolve("align.gguf")), "general.alignment", "power of two");
        assertMalformed(new Raw().header(0, 1).str("b").u32(7).bytes(new byte[]{5}).write(dir.resolve("bool.gguf")), "BOOL", "expected 0 or 1");
    }

    @Test void tensorInfoErrorsAreReported() throws IOException {
        int infoAt = 24;
        assertMalformed(new Raw().header(1, 0).info("t", new long[]{4}, 99, 0).write(dir.resolve("type.gguf")),
                "tensor t", "info at offset " + infoAt, "unknown ggml type 99");
        assertMalformed(new Raw().header(1, 0).info("t", new long[]{1, 1, 1, 1, 1}, 0, 0).write(dir.resolve("dims.gguf")), "tensor t", "5 dimensions");
        assertMalformed(new Raw().header(1, 0).info("t", new long[]{4}, 0, 16).align(32).zeros(64).write(dir.resolve("misaligned.gguf")),
                "tensor t", "data offset 16", "alignment 32");
        assertMalformed(new Raw().header(1, 0).info("t", new long[]{33}, GgmlType.Q8_0.id(), 0).align(32).zeros(64).write(dir.resolve("block.gguf")),
                "tensor t", "Q8_0", "ne[0] = 33", "block size 32");
        assertMalformed(new Raw().header(2, 0).info("t", new long[]{4}, 0, 0).info("t", new long[]{4}, 0, 32).write(dir.resolve("dup.gguf")), "tensor t", "twice");
    }

    @Test void dataOutsideTheFileOrOverlappingIsReported() throws IOException {
        Raw past = new Raw().header(1, 0).info("w", new long[]{8, 4}, 0, 0).align(32);
        int dataStart = past.position();
        assertMalformed(past.zeros(100).write(dir.resolve("past.gguf")), "tensor w", "bytes [" + dataStart + ", " + (dataStart + 128) + ")",
                "file has " + (dataStart + 100) + " bytes");
        Raw overlap = new Raw().header(2, 0).info("a", new long[]{16}, 0, 0).info("b", new long[]{16}, 0, 32).align(32);
        int start = overlap.position();
        assertMalformed(overlap.zeros(96).write(dir.resolve("overlap.gguf")), "tensors a", "b (from offset " + (start + 32) + ")", "overlap");
    }

    @Test void unsupportedTensorTypesAreNamedWhenUsed() throws IOException {
        Path p = new Raw().header(1, 0).info("blk.0.attn_q.weight", new long[]{256, 2}, GgmlType.Q3_K.id(), 0).align(32)
                .zeros(2 * 110).write(dir.resolve("k.gguf"));
        try (GgufFile f = GgufFile.open(p)) {
            assertThatThrownBy(() -> f.tensor("blk.0.attn_q.weight")).isInstanceOf(ModelFormatException.class)
                    .hasMessageContainingAll("blk.0.attn_q.weight", "offset " + f.dataStart(), "Q3_K", "F32, F16, BF16 and [Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K]");
        }
    }

    @Test void shapesNotMatchingTheMetadataAreNamed() throws IOException {
        LlamaConfig c = gqa(Rope.Layout.INTERLEAVED, true);
        LlamaWeights w = RandomModels.random(c, 1, DType.F32);
        Path good = dir.resolve("good.gguf");
        GgufModelWriter.write(w, null, good, GgmlType.F32);
        // claim a wider MLP than the tensors have: patch llama.feed_forward_length in place (same byte length)
        byte[] bytes = Files.readAllBytes(good);
        int at = indexOf(bytes, "llama.feed_forward_length".getBytes(StandardCharsets.US_ASCII)) + "llama.feed_forward_length".length() + 4;
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(at, 97);
        Path bad = Files.write(dir.resolve("bad.gguf"), bytes);
        long offset;
        try (GgufFile f = GgufFile.open(bad)) {
            offset = f.fileOffset(f.info("blk.0.ffn_gate.weight"));
        }
        assertThatThrownBy(() -> GgufLoader.load(bad)).isInstanceOf(ModelFormatException.class)
                .hasMessageContainingAll(bad.toString(), "blk.0.ffn_gate.weight", "offset " + offset, "ne [64, 96]", "[97, 64]");
    }

    @Test void unknownArchitecturesRopeFactorsAndStrayTensorsAreRefused() throws IOException {
        Path arch = dir.resolve("arch.gguf");
        new GgufWriter().putString("general.architecture", "gpt2").write(arch);
        assertThatThrownBy(() -> GgufLoader.load(arch)).hasMessageContaining("'gpt2'");

        LlamaConfig c = gqa(Rope.Layout.INTERLEAVED, true);
        LlamaWeights w = RandomModels.random(c, 1, DType.F32);
        Path p = dir.resolve("m.gguf");
        GgufModelWriter.write(w, null, p, GgmlType.F32);
        GgufWriter g = new GgufWriter();
        try (GgufFile f = GgufFile.open(p)) {
            f.metadata().asMap().forEach(g::put);
            for (GgufFile.TensorInfo t : f.tensors()) g.addTensor(t.name(), f.tensor(t.name()).copy(), t.type());
        }
        Path stray = dir.resolve("stray.gguf");
        g.addTensor("blk.0.attn_q.bias", Tensor.zeros(64), GgmlType.F32).write(stray);
        assertThatThrownBy(() -> GgufLoader.load(stray)).hasMessageContaining("does not have: [blk.0.attn_q.bias]");
        Path freqs = dir.resolve("freqs.gguf");
        g.addTensor("rope_freqs.weight", Tensor.ones(8), GgmlType.F32).write(freqs);
        assertThatThrownBy(() -> GgufLoader.load(freqs)).hasMessageContaining("rope_freqs.weight");
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        throw new AssertionError("not found");
    }

    /**
     * A streamed source (synthetic weights built block by block, rotate-half Q/K permuted as written) gives the file the
     * whole model in memory gives, byte for byte, and is asked for the blocks in order: with its one-block cache, each
     * block is built once and the writer never holds more than one.
     */
    @Test void aStreamedSourceWritesTheSameFileOneBlockAtATime() throws IOException {
        LlamaConfig c = gqa(Rope.Layout.HALF, false);
        Path whole = dir.resolve("whole.gguf"), streamed = dir.resolve("streamed.gguf");
        GgufModelWriter.write(dev.stiefel.llama.SyntheticWeights.create(c, DType.BF16, 3), null, whole, GgmlType.BF16);
        dev.stiefel.llama.WeightSource s = dev.stiefel.llama.SyntheticWeights.source(c, DType.BF16, 3);
        List<Integer> asked = new java.util.ArrayList<>();
        GgufModelWriter.write(new dev.stiefel.llama.WeightSource() {
            @Override public LlamaConfig config() { return s.config(); }
            @Override public Tensor embedding() { return s.embedding(); }
            @Override public LlamaWeights.Layer layer(int l) {
                if (asked.isEmpty() || asked.getLast() != l) asked.add(l);
                return s.layer(l);
            }
            @Override public Tensor finalNorm() { return s.finalNorm(); }
            @Override public Tensor output() { return s.output(); }
        }, null, streamed, GgmlType.BF16);
        assertThat(asked).containsExactly(0, 1);
        assertThat(Files.readAllBytes(streamed)).isEqualTo(Files.readAllBytes(whole));
    }
}
