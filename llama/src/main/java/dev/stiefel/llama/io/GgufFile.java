package dev.stiefel.llama.io;

import dev.stiefel.llama.io.ggml.BlockFormat;
import dev.stiefel.llama.io.ggml.BlockFormats;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.MappedFile;
import dev.stiefel.tensor.Parallel;
import dev.stiefel.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GGUF file (llama.cpp's format, version 3; version 2 has the same layout), memory-mapped. Layout, all
 * little-endian: magic "GGUF", uint32 version, uint64 tensor count, uint64 metadata count; the metadata as
 * (string key, uint32 type, value) where a string is a uint64 byte length plus UTF-8 bytes and an array is a
 * uint32 element type, a uint64 count and the elements; the tensor infos as (string name, uint32 n_dims, uint64
 * ne[n_dims], uint32 ggml type, uint64 offset); padding to {@code general.alignment} (default 32); then the data,
 * each tensor at its offset from the start of the data section (a multiple of the alignment).
 *
 * <p>Dimensions are ggml's: {@code ne[0]} varies fastest, so a PyTorch [out, in] matrix has ne = [in, out];
 * {@link TensorInfo#shape()} reverses them into row-major order. F32/F16/BF16 tensors are zero-copy views of the
 * mapping; tensors in a block format of {@link BlockFormats} (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K) are
 * dequantized into f32 heap tensors. Every count, length and offset is checked
 * against the file before it is used; errors name the file, the field or tensor and its offset.
 */
public final class GgufFile implements AutoCloseable {
    public static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
    public static final int DEFAULT_ALIGNMENT = 32;
    static final int MAX_DIMS = 4;
    static final int MAX_ALIGNMENT = 1 << 30;

    /**
     * One tensor's info. {@code ne} is in ggml order (fastest first); {@code offset} is relative to the data
     * section; {@code infoOffset} is where the info itself starts in the file (for error messages).
     */
    public record TensorInfo(String name, long[] ne, GgmlType type, long offset, long infoOffset) {
        /** Row-major shape (ne reversed). */
        public int[] shape() {
            int[] s = new int[ne.length];
            for (int i = 0; i < ne.length; i++) s[i] = (int) ne[ne.length - 1 - i];
            return s;
        }

        public long numel() {
            long n = 1;
            for (long d : ne) n *= d;
            return n;
        }

        /** Bytes of data, or -1 when the type's layout is unknown here. */
        public long byteSize() { return type.byteSize(numel()); }
    }

    private final Path path;
    private final MappedFile file;
    private final int version;
    private final GgufMetadata metadata;
    private final Map<String, TensorInfo> tensors;
    private final int alignment;
    private final long dataStart;

    private GgufFile(Path path, MappedFile file, int version, GgufMetadata metadata, Map<String, TensorInfo> tensors, int alignment, long dataStart) {
        this.path = path;
        this.file = file;
        this.version = version;
        this.metadata = metadata;
        this.tensors = tensors;
        this.alignment = alignment;
        this.dataStart = dataStart;
    }

    public static GgufFile open(Path path) throws IOException {
        MappedFile file = MappedFile.open(path);
        try {
            return parse(path, file);
        } catch (Throwable e) { // Errors too: a failed open must not leave the file mapped
            file.close();
            throw e;
        }
    }

    private static GgufFile parse(Path path, MappedFile file) throws IOException {
        ByteCursor in = new ByteCursor(path, file.segment(), 0);
        int magic = in.i32("magic");
        if (magic != MAGIC)
            throw new ModelFormatException(path, String.format("not a GGUF file: magic at offset 0 is 0x%08x, expected 0x%08x (\"GGUF\")", magic, MAGIC));
        int version = in.i32("version");
        if (version == 0x03000000 || version == 0x02000000)
            throw new ModelFormatException(path, "big-endian GGUF (version field 0x" + Integer.toHexString(version) + " at offset 4) is not supported");
        if (version != 2 && version != 3)
            throw new ModelFormatException(path, "GGUF version " + version + " at offset 4 is not supported (only 2 and 3)");
        long tensorCount = in.u64("tensor count");
        long kvCount = in.u64("metadata count");
        // every metadata entry takes at least 8 + 4 bytes and every tensor info at least 8 + 4 + 8 + 4 + 8
        if (kvCount > in.remaining() / 12 || tensorCount > in.remaining() / 32)
            throw new ModelFormatException(path, "header claims " + tensorCount + " tensors and " + kvCount
                    + " metadata entries (offsets 8 and 16), more than a file of " + in.size() + " bytes can hold");

        Map<String, GgufValue> kv = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            long at = in.position();
            String key = string(in, "key of metadata entry " + i);
            if (kv.containsKey(key)) throw new ModelFormatException(path, "metadata key " + key + " at offset " + at + " appears twice");
            long typeAt = in.position();
            GgufValue.Type type = GgufValue.Type.of(in.u32("type of metadata " + key));
            if (type == null) throw new ModelFormatException(path, "metadata key " + key + ": unknown value type at offset " + typeAt);
            kv.put(key, value(in, type, key, 0));
        }
        GgufMetadata metadata = new GgufMetadata(path, kv);
        int alignment = DEFAULT_ALIGNMENT;
        if (metadata.contains("general.alignment")) {
            GgufValue a = metadata.get("general.alignment");
            long v = metadata.integer("general.alignment");
            if (a.type() != GgufValue.Type.UINT32 || v <= 0 || v > MAX_ALIGNMENT || Long.bitCount(v) != 1) // 2^31 would turn negative as an int
                throw new ModelFormatException(path, "general.alignment at offset " + a.offset() + " is " + a + ", expected a UINT32 power of two up to 2^30");
            alignment = (int) v;
        }

        Map<String, TensorInfo> infos = new LinkedHashMap<>();
        for (long i = 0; i < tensorCount; i++) {
            long at = in.position();
            String name = string(in, "name of tensor info " + i);
            if (infos.containsKey(name)) throw new ModelFormatException(path, "tensor " + name + " (info at offset " + at + ") appears twice");
            long nd = in.u32("dimension count of tensor " + name);
            if (nd < 1 || nd > MAX_DIMS) throw new ModelFormatException(path, "tensor " + name + " (info at offset " + at + ") has " + nd + " dimensions, expected 1 to " + MAX_DIMS);
            long[] ne = new long[(int) nd];
            long numel = 1;
            for (int d = 0; d < nd; d++) {
                ne[d] = in.u64("ne[" + d + "] of tensor " + name);
                if (ne[d] > Integer.MAX_VALUE)
                    throw new ModelFormatException(path, "tensor " + name + " (info at offset " + at + ") has ne[" + d + "] = " + ne[d] + ", too large");
                try {
                    numel = Math.multiplyExact(numel, ne[d]);
                } catch (ArithmeticException e) {
                    throw new ModelFormatException(path, "tensor " + name + " (info at offset " + at + ") has too many elements");
                }
            }
            long typeId = in.u32("type of tensor " + name);
            GgmlType type = GgmlType.of(typeId);
            if (type == null) throw new ModelFormatException(path, "tensor " + name + " (info at offset " + at + ") has unknown ggml type " + typeId);
            if (ne[0] % type.blockSize() != 0)
                throw new ModelFormatException(path, "tensor " + name + " (info at offset " + at + ") of type " + type + " has ne[0] = " + ne[0]
                        + ", not a multiple of its block size " + type.blockSize());
            long offset = in.u64("offset of tensor " + name);
            if (offset % alignment != 0)
                throw new ModelFormatException(path, "tensor " + name + " (info at offset " + at + ") has data offset " + offset
                        + ", not a multiple of the alignment " + alignment);
            infos.put(name, new TensorInfo(name, ne, type, offset, at));
        }
        long dataStart = tensorCount == 0 ? in.position() : align(in.position(), alignment);
        checkLayout(path, infos.values(), dataStart, in.size());
        return new GgufFile(path, file, version, metadata, Collections.unmodifiableMap(infos), alignment, dataStart);
    }

    /** Tensors whose size is known must lie inside the file and must not overlap one another. */
    private static void checkLayout(Path path, Iterable<TensorInfo> infos, long dataStart, long fileSize) throws ModelFormatException {
        List<TensorInfo> sized = new ArrayList<>();
        for (TensorInfo t : infos) {
            long bytes = t.byteSize();
            if (bytes < 0) continue;
            if (dataStart + t.offset() > fileSize || bytes > fileSize - dataStart - t.offset())
                throw new ModelFormatException(path, "tensor " + t.name() + " (" + t.type() + ", ne " + java.util.Arrays.toString(t.ne())
                        + ") needs bytes [" + (dataStart + t.offset()) + ", " + (dataStart + t.offset() + bytes) + ") but the file has "
                        + fileSize + " bytes");
            sized.add(t);
        }
        sized.sort(Comparator.comparingLong(TensorInfo::offset));
        for (int i = 1; i < sized.size(); i++) {
            TensorInfo a = sized.get(i - 1), b = sized.get(i);
            if (a.offset() + a.byteSize() > b.offset())
                throw new ModelFormatException(path, "tensors " + a.name() + " (bytes [" + (dataStart + a.offset()) + ", " + (dataStart + a.offset() + a.byteSize())
                        + ")) and " + b.name() + " (from offset " + (dataStart + b.offset()) + ") overlap");
        }
    }

    static long align(long x, int alignment) { return (x + alignment - 1) / alignment * alignment; }

    private static String string(ByteCursor in, String what) throws ModelFormatException {
        long n = in.u64("length of " + what);
        return in.utf8(n, what);
    }

    private static GgufValue value(ByteCursor in, GgufValue.Type type, String key, int depth) throws ModelFormatException {
        long at = in.position();
        if (type == GgufValue.Type.ARRAY) return array(in, key, depth, at);
        String what = "value of " + key;
        Object v = switch (type) {
            case UINT8 -> in.u8(what);
            case INT8 -> (int) in.i8(what);
            case UINT16 -> in.i16(what) & 0xFFFF;
            case INT16 -> (int) in.i16(what);
            case UINT32 -> in.u32(what);
            case INT32 -> in.i32(what);
            case FLOAT32 -> in.f32(what);
            case BOOL -> {
                int b = in.u8(what);
                if (b > 1) throw new ModelFormatException(in.file(), "metadata key " + key + ": BOOL at offset " + at + " is " + b + ", expected 0 or 1");
                yield b == 1;
            }
            case STRING -> string(in, what);
            case UINT64 -> in.u64(what);
            case INT64 -> in.i64(what);
            case FLOAT64 -> in.f64(what);
            case ARRAY -> throw new AssertionError("handled above");
        };
        return new GgufValue(type, v, null, at);
    }

    private static GgufValue array(ByteCursor in, String key, int depth, long at) throws ModelFormatException {
        if (depth > 4) throw new ModelFormatException(in.file(), "metadata key " + key + ": arrays nested too deep at offset " + at);
        long etAt = in.position();
        GgufValue.Type et = GgufValue.Type.of(in.u32("element type of " + key));
        if (et == null) throw new ModelFormatException(in.file(), "metadata key " + key + ": unknown array element type at offset " + etAt);
        long n = in.u64("length of array " + key);
        long minBytes = et.size() > 0 ? et.size() : 8;
        if (n > in.remaining() / minBytes)
            throw new ModelFormatException(in.file(), "metadata key " + key + ": array of " + n + " " + et + " at offset " + at
                    + " cannot fit in the " + in.remaining() + " bytes left in the file");
        List<Object> list = new ArrayList<>(ReadLimits.elements(n, 8)); // n was checked against the bytes left above
        for (long i = 0; i < n; i++) {
            GgufValue e = value(in, et, key, depth + 1);
            list.add(e.type() == GgufValue.Type.ARRAY ? e : e.value()); // nested arrays stay GgufValues
        }
        return new GgufValue(GgufValue.Type.ARRAY, Collections.unmodifiableList(list), et, at);
    }


    public Path path() { return path; }
    public int version() { return version; }
    public GgufMetadata metadata() { return metadata; }
    public int alignment() { return alignment; }
    /** File offset of the data section. */
    public long dataStart() { return dataStart; }

    /** Tensor infos in file order. */
    public List<TensorInfo> tensors() { return List.copyOf(tensors.values()); }
    public boolean contains(String name) { return tensors.containsKey(name); }

    public TensorInfo info(String name) throws ModelFormatException {
        TensorInfo t = tensors.get(name);
        if (t == null) throw new ModelFormatException(path, "tensor " + name + " is missing");
        return t;
    }

    /** The file offset of a tensor's first byte. */
    public long fileOffset(TensorInfo t) { return dataStart + t.offset(); }

    /** The tensor, row-major: a zero-copy view for F32/F16/BF16, a dequantized f32 copy for a block format. */
    public Tensor tensor(String name) throws ModelFormatException {
        TensorInfo t = info(name);
        int[] shape = t.shape();
        long at = fileOffset(t);
        if (t.numel() > Integer.MAX_VALUE)
            throw new ModelFormatException(path, "tensor " + name + " at offset " + at + " has " + t.numel() + " elements, more than a tensor can index");
        BlockFormat format = BlockFormats.of(t.type());
        if (format != null) return dequantize(t, format, at, shape);
        return switch (t.type()) {
            case F32 -> file.tensor(at, DType.F32, shape);
            case F16 -> file.tensor(at, DType.F16, shape);
            case BF16 -> file.tensor(at, DType.BF16, shape);
            default -> throw new ModelFormatException(path, "tensor " + name + " at offset " + at + " is " + t.type()
                    + "; this reader handles F32, F16, BF16 and " + BlockFormats.types());
        };
    }

    /** ggml's dequantization (the {@code dequantize_row_*} formulas, {@link BlockFormat#dequantize}) into an f32 heap tensor. */
    private Tensor dequantize(TensorInfo t, BlockFormat format, long at, int[] shape) {
        int n = ReadLimits.elements(t.numel(), 4); // its blocks lie inside the file (checkLayout); the floats are at most ~8x their bytes
        float[] out = new float[n];
        int bs = format.blockSize(), bb = format.blockBytes();
        Parallel.forRange(n / bs, Math.max(1, 131072 / bb), (from, to) -> {
            byte[] bytes = file.segment().asSlice(at + (long) from * bb, (long) (to - from) * bb).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            format.dequantize(bytes, 0, to - from, out, from * bs);
        });
        return Tensor.wrap(out, shape);
    }

    @Override public void close() { file.close(); }

    @Override public String toString() {
        return path + " (GGUF v" + version + ", " + metadata.keys().size() + " metadata keys, " + tensors.size() + " tensors, alignment " + alignment + ")";
    }
}
