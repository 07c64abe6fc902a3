package dev.stiefel.llama.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds a safetensors file (layout in {@link SafetensorsFile}) and writes it atomically. Tensors are streamed
 * from their storage when {@link #write} runs, so the writer holds references, not copies. Like the reference
 * writer, it pads the JSON header with spaces to a multiple of 8 bytes and orders the data by element size
 * (largest first, then insertion order), so every tensor starts aligned to its element size.
 */
public final class SafetensorsWriter {
    private record Item(String name, SafetensorsDType dtype, int[] shape, Tensor tensor, DType as, byte[] raw, MemorySegment segment) {
        long bytes() { return Shape.numel(shape) * dtype.bytes(); }
    }

    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final Map<String, Item> items = new LinkedHashMap<>();

    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    public SafetensorsWriter metadata(Map<String, String> entries) {
        metadata.putAll(entries);
        return this;
    }

    /** Adds a tensor stored in its own dtype. */
    public SafetensorsWriter add(String name, Tensor t) { return add(name, t, t.dtype()); }

    /** Adds a tensor converted to {@code as} (f32, f16, bf16 or i32) when written. */
    public SafetensorsWriter add(String name, Tensor t, DType as) {
        put(new Item(name, SafetensorsDType.of(as), t.shape(), t, as, null, null));
        return this;
    }

    /** Adds raw little-endian bytes of any safetensors dtype (e.g. packed quantized weights as U8). */
    public SafetensorsWriter addRaw(String name, SafetensorsDType dtype, int[] shape, byte[] data) {
        long need = Shape.numel(shape) * dtype.bytes();
        if (data.length != need)
            throw new IllegalArgumentException("safetensors: tensor '" + name + "' of shape " + Shape.str(shape) + " " + dtype
                    + " needs " + need + " bytes, got " + data.length);
        put(new Item(name, dtype, shape.clone(), null, null, data.clone(), null));
        return this;
    }

    /**
     * Adds the raw little-endian bytes of {@code data} (a packed matrix's codes), read when {@link #write} runs: the
     * writer keeps a reference, not a copy, so a model's codes are not held twice while it is saved. {@code data}
     * must stay valid and unchanged until then.
     */
    public SafetensorsWriter addRaw(String name, SafetensorsDType dtype, int[] shape, MemorySegment data) {
        long need = Shape.numel(shape) * dtype.bytes();
        if (data.byteSize() != need)
            throw new IllegalArgumentException("safetensors: tensor '" + name + "' of shape " + Shape.str(shape) + " " + dtype
                    + " needs " + need + " bytes, got " + data.byteSize());
        put(new Item(name, dtype, shape.clone(), null, null, null, data));
        return this;
    }

    private void put(Item item) {
        if (item.name().equals("__metadata__")) throw new IllegalArgumentException("safetensors: '__metadata__' is not a tensor name");
        if (items.containsKey(item.name())) throw new IllegalArgumentException("safetensors: tensor '" + item.name() + "' added twice");
        items.put(item.name(), item);
    }

    /** Bytes of tensor data added so far (what a shard's size is measured in). */
    public long dataBytes() { return items.values().stream().mapToLong(Item::bytes).sum(); }

    public int size() { return items.size(); }

    public void write(Path path) throws IOException {
        List<Item> order = new ArrayList<>(items.values());
        order.sort(Comparator.comparingInt((Item i) -> -i.dtype().bytes())); // stable: insertion order within a size
        ObjectNode header = new ObjectMapper().createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Item i : order) {
            ObjectNode e = header.putObject(i.name());
            e.put("dtype", i.dtype().name());
            ArrayNode shape = e.putArray("shape");
            for (int d : i.shape()) shape.add(d);
            e.putArray("data_offsets").add(offset).add(offset + i.bytes());
            offset += i.bytes();
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) head.put((byte) ' ');
        AtomicFiles.write(path, out -> {
            AtomicFiles.writeFully(out, head.flip());
            for (Item i : order) {
                if (i.raw() != null) AtomicFiles.writeFully(out, ByteBuffer.wrap(i.raw()));
                else if (i.segment() != null)   // in slices: a ByteBuffer holds at most 2 GiB
                    for (long at = 0, n = i.segment().byteSize(); at < n; at += 1 << 30)
                        AtomicFiles.writeFully(out, i.segment().asSlice(at, Math.min(1L << 30, n - at)).asByteBuffer());
                else TensorBytes.write(i.tensor(), i.as(), out);
            }
        });
    }
}
