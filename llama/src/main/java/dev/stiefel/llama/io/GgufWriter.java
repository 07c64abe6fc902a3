package dev.stiefel.llama.io;

import dev.stiefel.llama.io.ggml.BlockFormat;
import dev.stiefel.llama.io.ggml.BlockFormats;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Builds a GGUF v3 file (layout in {@link GgufFile}) and writes it atomically. Tensors are given row-major and
 * written with ne = their shape reversed; F32/F16/BF16 are stored as such (16-bit values bit for bit when the
 * tensor already has that dtype); a block format ({@link BlockFormats}) is quantized with ggml's reference rule
 * ({@link BlockFormat#quantize}), which needs the innermost size to be a multiple of the block size, unless the blocks
 * are given ready-made ({@link #addBlocks}: a method's own codes on the format's grid).
 */
public final class GgufWriter {
    /** A tensor to write: values (quantized on writing) or, when {@code blocks} is set, the bytes themselves. */
    /** A tensor to write: its values on demand (built only while it is written, when they come from a supplier), or ready-made blocks. */
    private record Item(String name, Supplier<Tensor> values, int[] shape, GgmlType type, byte[] blocks) {
        long numel() { return Shape.numel(shape); }

        Tensor tensor() {
            Tensor t = values.get();
            if (!java.util.Arrays.equals(t.shape(), shape))
                throw new IllegalStateException("gguf: tensor " + name + " was declared " + Shape.str(shape) + " but its values are " + Shape.str(t.shape()));
            return t;
        }
    }

    private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    private final Map<String, Item> tensors = new LinkedHashMap<>();
    private int alignment = GgufFile.DEFAULT_ALIGNMENT;

    public GgufWriter put(String key, GgufValue value) {
        if (key.equals("general.alignment")) throw new IllegalArgumentException("gguf: set the alignment with alignment(int)");
        metadata.put(key, value);
        return this;
    }

    public GgufWriter putString(String key, String v) { return put(key, GgufValue.string(v)); }
    public GgufWriter putU32(String key, long v) { return put(key, GgufValue.u32(v)); }
    public GgufWriter putI32(String key, int v) { return put(key, GgufValue.i32(v)); }
    public GgufWriter putF32(String key, float v) { return put(key, GgufValue.f32(v)); }
    public GgufWriter putBool(String key, boolean v) { return put(key, GgufValue.bool(v)); }

    /** Data alignment (a power of two); written as general.alignment when it is not the default 32. */
    public GgufWriter alignment(int alignment) {
        if (alignment <= 0 || Integer.bitCount(alignment) != 1) throw new IllegalArgumentException("gguf: alignment must be a power of two, got " + alignment);
        this.alignment = alignment;
        return this;
    }

    public GgufWriter addTensor(String name, Tensor t, GgmlType type) {
        return addTensor(name, t.shape(), type, () -> t);
    }

    /**
     * A tensor of {@code shape} whose values are asked for only when the file is written, and dropped right after:
     * a writer of a large model then holds one tensor at a time.
     */
    public GgufWriter addTensor(String name, int[] shape, GgmlType type, Supplier<Tensor> values) {
        if (!(type == GgmlType.F32 || type == GgmlType.F16 || type == GgmlType.BF16 || BlockFormats.of(type) != null))
            throw new IllegalArgumentException("gguf: cannot write " + type + " (F32, F16, BF16 and " + BlockFormats.types() + " only)");
        checkShape(name, shape, type);
        tensors.put(name, new Item(name, values, shape.clone(), type, null));
        return this;
    }

    /** A tensor of {@code shape} stored in block format {@code type} as the given blocks (row-major rows of whole blocks). */
    public GgufWriter addBlocks(String name, int[] shape, GgmlType type, byte[] blocks) {
        if (BlockFormats.of(type) == null) throw new IllegalArgumentException("gguf: " + type + " is not a block format written here " + BlockFormats.types());
        checkShape(name, shape, type);
        if (blocks.length != type.byteSize(Shape.numel(shape)))
            throw new IllegalArgumentException("gguf: tensor " + name + " " + Shape.str(shape) + " as " + type + " takes " + type.byteSize(Shape.numel(shape))
                    + " bytes, got " + blocks.length);
        tensors.put(name, new Item(name, null, shape.clone(), type, blocks));
        return this;
    }

    private void checkShape(String name, int[] shape, GgmlType type) {
        if (shape.length < 1 || shape.length > GgufFile.MAX_DIMS) throw new IllegalArgumentException("gguf: tensor " + name + " must have 1 to 4 dims, got " + Shape.str(shape));
        if (shape[shape.length - 1] % type.blockSize() != 0)
            throw new IllegalArgumentException("gguf: tensor " + name + " " + Shape.str(shape) + " cannot be " + type
                    + ": its last dimension is not a multiple of " + type.blockSize());
        if (tensors.containsKey(name)) throw new IllegalArgumentException("gguf: tensor " + name + " added twice");
    }

    public void write(Path path) throws IOException {
        Map<String, GgufValue> kv = new LinkedHashMap<>();
        if (alignment != GgufFile.DEFAULT_ALIGNMENT) kv.put("general.alignment", GgufValue.u32(alignment));
        kv.putAll(metadata);
        Encoder head = new Encoder();
        head.i32(GgufFile.MAGIC).i32(3).i64(tensors.size()).i64(kv.size());
        for (var e : kv.entrySet()) {
            head.string(e.getKey()).i32(e.getValue().type().id());
            head.value(e.getKey(), e.getValue());
        }
        List<Long> offsets = new ArrayList<>();
        long offset = 0;
        for (Item it : tensors.values()) {
            int[] s = it.shape();
            head.string(it.name()).i32(s.length);
            for (int d = s.length - 1; d >= 0; d--) head.i64(s[d]);
            head.i32(it.type().id()).i64(offset);
            offsets.add(offset);
            offset = GgufFile.align(offset + it.type().byteSize(it.numel()), alignment);
        }
        AtomicFiles.write(path, out -> {
            ByteBuffer h = head.buffer();
            long pos = h.remaining();
            AtomicFiles.writeFully(out, h);
            long dataStart = tensors.isEmpty() ? pos : GgufFile.align(pos, alignment);
            pad(out, dataStart - pos);
            long at = 0;
            int i = 0;
            for (Item it : tensors.values()) {
                pad(out, offsets.get(i++) - at);
                at = offsets.get(i - 1) + it.type().byteSize(it.numel());
                writeData(it, out);
            }
        });
    }

    private static void writeData(Item it, FileChannel out) throws IOException {
        if (it.blocks() != null) {
            AtomicFiles.writeFully(out, ByteBuffer.wrap(it.blocks()));
            return;
        }
        Tensor t = it.tensor();
        switch (it.type()) {
            case F32 -> TensorBytes.write(t, DType.F32, out);
            case F16 -> TensorBytes.write(t, DType.F16, out);
            case BF16 -> TensorBytes.write(t, DType.BF16, out);
            default -> {
                BlockFormat f = BlockFormats.of(it.type());
                float[] x = t.toFloatArray();
                int bs = f.blockSize(), bb = f.blockBytes(), blocks = x.length / bs, chunk = 1 << 12;
                byte[] buf = new byte[chunk * bb];
                for (int b = 0; b < blocks; b += chunk) {
                    int n = Math.min(chunk, blocks - b);
                    for (int k = 0; k < n; k++) f.quantize(x, (b + k) * bs, buf, k * bb);
                    AtomicFiles.writeFully(out, ByteBuffer.wrap(buf, 0, n * bb));
                }
            }
        }
    }

    private static void pad(FileChannel out, long n) throws IOException {
        if (n > 0) AtomicFiles.writeFully(out, ByteBuffer.allocate((int) n));
    }

    /** A growable little-endian buffer for the header, metadata and tensor infos. */
    private static final class Encoder {
        private ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

        private Encoder room(int n) {
            if (buf.remaining() < n) {
                ByteBuffer bigger = ByteBuffer.allocate(Math.max(buf.capacity() * 2, buf.position() + n)).order(ByteOrder.LITTLE_ENDIAN);
                bigger.put(buf.flip());
                buf = bigger;
            }
            return this;
        }

        Encoder i8(int v) { room(1).buf.put((byte) v); return this; }
        Encoder i16(int v) { room(2).buf.putShort((short) v); return this; }
        Encoder i32(int v) { room(4).buf.putInt(v); return this; }
        Encoder i64(long v) { room(8).buf.putLong(v); return this; }
        Encoder f32(float v) { room(4).buf.putFloat(v); return this; }
        Encoder f64(double v) { room(8).buf.putDouble(v); return this; }

        Encoder string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            i64(b.length);
            room(b.length).buf.put(b);
            return this;
        }

        void value(String key, GgufValue v) {
            if (v.type() == GgufValue.Type.ARRAY) {
                if (v.elementType() == GgufValue.Type.ARRAY) throw new IllegalArgumentException("gguf: nested arrays are not written (key " + key + ")");
                i32(v.elementType().id()).i64(v.list().size());
                for (Object e : v.list()) scalar(key, v.elementType(), e);
            } else scalar(key, v.type(), v.value());
        }

        private void scalar(String key, GgufValue.Type type, Object o) {
            try {
                switch (type) {
                    case UINT8, INT8 -> i8(((Number) o).intValue());
                    case UINT16, INT16 -> i16(((Number) o).intValue());
                    case UINT32, INT32 -> i32(((Number) o).intValue());
                    case UINT64, INT64 -> i64(((Number) o).longValue());
                    case FLOAT32 -> f32(((Number) o).floatValue());
                    case FLOAT64 -> f64(((Number) o).doubleValue());
                    case BOOL -> i8((Boolean) o ? 1 : 0);
                    case STRING -> string((String) o);
                    case ARRAY -> throw new AssertionError();
                }
            } catch (ClassCastException e) {
                throw new IllegalArgumentException("gguf: metadata " + key + " holds " + o.getClass().getSimpleName() + ", not a " + type);
            }
        }

        ByteBuffer buffer() { return buf.duplicate().flip(); }
    }
}
