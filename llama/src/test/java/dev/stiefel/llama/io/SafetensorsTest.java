package dev.stiefel.llama.io;

import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.MappedFile;
import dev.stiefel.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.stiefel.llama.io.IoFixtures.assertBitIdentical;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SafetensorsTest {
    @TempDir Path dir;

    @Test void everyDtypeAndOddShapesReadBackBitIdenticalAndMapped() throws IOException {
        Random rnd = new Random(1);
        Tensor f32 = Tensor.randn(rnd, 7, 33);
        Tensor f16 = Tensor.randn(rnd, 257).to(DType.F16);
        Tensor bf16 = Tensor.randn(rnd, 3, 1, 5).to(DType.BF16);
        Tensor i32 = Tensor.ofInts(new int[]{-5, 0, 7, Integer.MAX_VALUE}, 2, 2);
        Tensor scalar = Tensor.of(new float[]{Float.MIN_VALUE}); // shape [1]
        byte[] packed = new byte[9];
        rnd.nextBytes(packed);
        Path file = dir.resolve("t.safetensors");
        new SafetensorsWriter().metadata("format", "pt").metadata("note", "ünïcode ✓")
                .add("a.f16", f16).add("b.f32", f32).add("c.bf16", bf16).add("d.i32", i32).add("e", scalar)
                .addRaw("packed", SafetensorsDType.U8, new int[]{3, 3}, packed)
                .addRaw("segment", SafetensorsDType.U8, new int[]{2, 4}, java.lang.foreign.MemorySegment.ofArray(packed).asSlice(1, 8))
                .add("f.as_bf16", f32, DType.BF16)
                .write(file);

        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            assertThat(st.metadata()).isEqualTo(Map.of("format", "pt", "note", "ünïcode ✓"));
            assertBitIdentical("f32", st.tensor("b.f32"), f32);
            assertBitIdentical("f16", st.tensor("a.f16"), f16);
            assertBitIdentical("bf16", st.tensor("c.bf16"), bf16);
            assertBitIdentical("i32", st.tensor("d.i32"), i32);
            assertBitIdentical("scalar", st.tensor("e"), scalar);
            assertBitIdentical("f32 stored as bf16", st.tensor("f.as_bf16"), f32.to(DType.BF16));
            assertThat(st.byteArray("packed")).isEqualTo(packed);
            assertThat(st.byteArray("segment")).as("raw bytes added as a segment, read when written").isEqualTo(java.util.Arrays.copyOfRange(packed, 1, 9));
            assertThat(st.entry("packed").dtype()).isEqualTo(SafetensorsDType.U8);
            assertThat(IoFixtures.isMapped(st.tensor("b.f32"))).as("f32 tensors are views of the mapping").isTrue();
            assertThat(IoFixtures.isMapped(st.tensor("c.bf16"))).isTrue();
            // data is ordered by element size and every tensor starts aligned to it
            for (SafetensorsFile.Entry e : st.entries()) assertThat(st.fileOffset(e) % e.dtype().bytes()).as(e.name()).isZero();
            assertThatThrownBy(() -> st.tensor("packed")).isInstanceOf(ModelFormatException.class).hasMessageContaining("U8");
        }
        long headerLength = ByteBuffer.wrap(Files.readAllBytes(file), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertThat(headerLength % 8).as("header padded to 8 bytes").isZero();
    }

    @Test void writesAtomicallyAndLeavesTheOldFileWhenAWriteFails() throws IOException {
        Path file = dir.resolve("m.safetensors");
        Tensor a = Tensor.randn(new Random(2), 5, 3);
        new SafetensorsWriter().add("a", a).write(file);
        byte[] before = Files.readAllBytes(file);

        Path other = dir.resolve("other.safetensors");
        new SafetensorsWriter().add("x", Tensor.randn(new Random(3), 4)).write(other);
        Tensor dead;
        try (MappedFile m = MappedFile.open(other)) { dead = m.tensor(m.byteSize() - 16, DType.F32, 4); }
        // the tensor's mapping is gone: streaming it fails half-way through the write
        SafetensorsWriter failing = new SafetensorsWriter().add("a", a).add("dead", dead);
        assertThatThrownBy(() -> failing.write(file)).isInstanceOf(IllegalStateException.class);
        assertThat(Files.readAllBytes(file)).as("old file untouched").isEqualTo(before);
        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString()).toList()).containsExactlyInAnyOrder("m.safetensors", "other.safetensors");
        }
    }

    // ------------------------------------------------------------------ malformed files

    /** A file made of an 8-byte length, a header text and {@code data} bytes. */
    private Path raw(String name, long headerLength, String header, int data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLength).put(h);
        Path p = dir.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    private Path raw(String name, String header, int data) throws IOException {
        return raw(name, header.getBytes(StandardCharsets.UTF_8).length, header, data);
    }

    private static void assertMalformed(Path p, String... fragments) {
        assertThatThrownBy(() -> SafetensorsFile.open(p).close())
                .isInstanceOf(ModelFormatException.class)
                .hasMessageStartingWith(p.toString())
                .hasMessageContainingAll(fragments);
    }

    @Test void truncatedFileIsReported() throws IOException {
        Path p = dir.resolve("short.safetensors");
        Files.write(p, new byte[]{1, 2, 3});
        assertMalformed(p, "truncated", "header length", "offset 0");
    }

    @Test void headerLengthPastTheEndIsReported() throws IOException {
        assertMalformed(raw("long.safetensors", 1000, "{}", 0), "header length 1000", "past the end");
    }

    @Test void hugeHeaderLengthIsRefusedBeforeAllocating() throws IOException {
        assertMalformed(raw("huge.safetensors", Long.MAX_VALUE, "{}", 0), "header length", "limit");
        assertMalformed(raw("negative.safetensors", -1, "{}", 0), "header length", "too large");
    }

    @Test void invalidJsonAndNonObjectsAreReported() throws IOException {
        assertMalformed(raw("bad.safetensors", "{\"a\": ", 0), "not valid JSON");
        assertMalformed(raw("array.safetensors", "[1, 2]", 0), "not a JSON object");
        assertMalformed(raw("dup.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
                "not valid JSON", "Duplicate");
    }

    @Test void unknownDtypeIsReported() throws IOException {
        assertMalformed(raw("dtype.safetensors", "{\"w\":{\"dtype\":\"F12\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4),
                "tensor 'w'", "unknown dtype \"F12\"");
    }

    @Test void offsetsOutOfRangeAreReported() throws IOException {
        String h = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
        Path p = raw("range.safetensors", h, 8);
        long dataStart = 8 + h.length();
        assertMalformed(p, "tensor 'w'", "[0,16]", "file bytes [" + dataStart + ", " + (dataStart + 16) + ")", "past the end");
    }

    @Test void offsetsNotMatchingShapeTimesDtypeAreReported() throws IOException {
        String h = "{\"w\":{\"dtype\":\"BF16\",\"shape\":[3,2],\"data_offsets\":[0,8]}}";
        assertMalformed(raw("size.safetensors", h, 8), "tensor 'w'", "hold 8 bytes", "file offset " + (8 + h.length()), "[3, 2] of BF16 needs 12 bytes");
    }

    @Test void overlappingTensorsAreReported() throws IOException {
        String h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
        assertMalformed(raw("overlap.safetensors", h, 12), "'a'", "'b'", "overlap at file offset " + (8 + h.length() + 4));
    }

    @Test void holesAndUndescribedBytesAreReported() throws IOException {
        String hole = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
        assertMalformed(raw("hole.safetensors", hole, 12), "tensor 'b'", "data offset 8", "hole");
        String tail = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        assertMalformed(raw("tail.safetensors", tail, 12), "8 bytes are not described");
    }

    @Test void badShapesAndOffsetsAreReported() throws IOException {
        assertMalformed(raw("neg.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0), "tensor 'w'", "invalid size -1");
        assertMalformed(raw("rev.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4), "tensor 'w'", "[4,0]");
        assertMalformed(raw("missing.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "tensor 'w'", "data_offsets");
        assertMalformed(raw("meta.safetensors", "{\"__metadata__\":{\"k\":1}}", 0), "__metadata__", "'k'");
    }

    @Test void missingTensorIsNamed() throws IOException {
        Path file = dir.resolve("one.safetensors");
        new SafetensorsWriter().add("a", Tensor.randn(new Random(5), 3)).write(file);
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            assertThat(st.entries()).extracting(SafetensorsFile.Entry::name).isEqualTo(List.of("a"));
            assertThatThrownBy(() -> st.tensor("b")).isInstanceOf(ModelFormatException.class).hasMessageContainingAll(file.toString(), "'b'", "missing");
        }
    }
}
