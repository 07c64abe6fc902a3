package dev.stiefel.llama.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.MappedFile;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file, memory-mapped. The format (huggingface/safetensors): an unsigned 64-bit little-endian
 * header length N, N bytes of UTF-8 JSON mapping each tensor name to {@code {dtype, shape, data_offsets: [begin,
 * end]}} (offsets relative to the byte after the header) plus an optional {@code __metadata__} map of strings,
 * then the tensor data, row-major little-endian.
 *
 * <p>Validation is as strict as the reference implementation's: the header must lie inside the file and be a JSON
 * object; every dtype must be known; every tensor's byte range must match shape × element size and lie inside the
 * file; the ranges must not overlap and must cover the data section without holes. Each error names the file, the
 * tensor and the offset. Tensors are views of the mapping (nothing is copied); closing the file unmaps them.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** The reference implementation refuses headers above 100 MB; so do we, before allocating anything. */
    static final long MAX_HEADER_BYTES = 100_000_000L;

    /** One tensor's header entry; {@code begin}/{@code end} are relative to the start of the data section. */
    public record Entry(String name, SafetensorsDType dtype, int[] shape, long begin, long end) {
        public long numel() { return Shape.numel(shape); }
        public long byteSize() { return end - begin; }
    }

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private final Path path;
    private final MappedFile file;
    private final long dataStart;
    private final Map<String, String> metadata;
    private final Map<String, Entry> entries;

    private SafetensorsFile(Path path, MappedFile file, long dataStart, Map<String, String> metadata, Map<String, Entry> entries) {
        this.path = path;
        this.file = file;
        this.dataStart = dataStart;
        this.metadata = metadata;
        this.entries = entries;
    }

    public static SafetensorsFile open(Path path) throws IOException {
        MappedFile file = MappedFile.open(path);
        try {
            ByteCursor in = new ByteCursor(path, file.segment(), 0);
            long n = in.u64("safetensors header length");
            if (n > MAX_HEADER_BYTES)
                throw new ModelFormatException(path, "header length " + n + " at offset 0 exceeds the format's limit of " + MAX_HEADER_BYTES + " bytes");
            if (n > in.remaining())
                throw new ModelFormatException(path, "header length " + n + " at offset 0 reaches past the end of the file (header bytes [8, "
                        + (8 + n) + "), file size " + file.byteSize() + ")");
            byte[] header = in.bytes(n, "safetensors header");
            long dataStart = 8 + n;
            JsonNode root = parseHeader(path, header);
            Map<String, String> metadata = new LinkedHashMap<>();
            List<Entry> list = new ArrayList<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
                var field = it.next();
                if (field.getKey().equals("__metadata__")) readMetadata(path, field.getValue(), metadata);
                else list.add(readEntry(path, field.getKey(), field.getValue(), dataStart, file.byteSize()));
            }
            checkLayout(path, list, dataStart, file.byteSize());
            Map<String, Entry> entries = new LinkedHashMap<>();
            for (Entry e : list) entries.put(e.name(), e);
            return new SafetensorsFile(path, file, dataStart, Collections.unmodifiableMap(metadata), Collections.unmodifiableMap(entries));
        } catch (Throwable e) { // Errors too: a failed open must not leave the file mapped
            file.close();
            throw e;
        }
    }

    private static JsonNode parseHeader(Path path, byte[] header) throws ModelFormatException {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(header)).toString();
        } catch (CharacterCodingException e) {
            throw new ModelFormatException(path, "the header (bytes [8, " + (8 + header.length) + ")) is not valid UTF-8");
        }
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(path, "the header (bytes [8, " + (8 + header.length) + ")) is not valid JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject())
            throw new ModelFormatException(path, "the header (bytes [8, " + (8 + header.length) + ")) is not a JSON object");
        return root;
    }

    private static void readMetadata(Path path, JsonNode node, Map<String, String> into) throws ModelFormatException {
        if (!node.isObject()) throw new ModelFormatException(path, "__metadata__ must be an object of strings, got " + node.getNodeType());
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            var f = it.next();
            if (!f.getValue().isTextual())
                throw new ModelFormatException(path, "__metadata__ value of '" + f.getKey() + "' must be a string, got " + f.getValue().getNodeType());
            into.put(f.getKey(), f.getValue().asText());
        }
    }

    private static Entry readEntry(Path path, String name, JsonNode node, long dataStart, long fileSize) throws ModelFormatException {
        String where = "tensor '" + name + "'";
        if (!node.isObject()) throw new ModelFormatException(path, where + ": header entry must be an object, got " + node.getNodeType());
        JsonNode dt = node.get("dtype"), sh = node.get("shape"), off = node.get("data_offsets");
        if (dt == null || sh == null || off == null)
            throw new ModelFormatException(path, where + ": header entry needs dtype, shape and data_offsets, got " + node);
        SafetensorsDType dtype = dt.isTextual() ? SafetensorsDType.parse(dt.asText()) : null;
        if (dtype == null) throw new ModelFormatException(path, where + ": unknown dtype " + dt + " (known: " + List.of(SafetensorsDType.values()) + ")");
        if (!sh.isArray()) throw new ModelFormatException(path, where + ": shape must be an array of sizes, got " + sh);
        int[] shape = new int[sh.size()];
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.canConvertToInt() || !d.isIntegralNumber() || d.asInt() < 0)
                throw new ModelFormatException(path, where + ": shape " + sh + " has an invalid size " + d);
            shape[i] = d.asInt();
        }
        if (!off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber() || !off.get(1).isIntegralNumber()
                || !off.get(0).canConvertToLong() || !off.get(1).canConvertToLong())
            throw new ModelFormatException(path, where + ": data_offsets must be [begin, end], got " + off);
        long begin = off.get(0).asLong(), end = off.get(1).asLong();
        if (begin < 0 || end < begin)
            throw new ModelFormatException(path, where + ": data_offsets " + off + " are not an increasing pair of non-negative offsets");
        long numel = 1;
        for (int d : shape) {
            numel *= d; // at most 2^31-1 times a size below 2^31: no overflow before the check
            if (numel > Integer.MAX_VALUE)
                throw new ModelFormatException(path, where + ": shape " + Shape.str(shape) + " has more than 2^31-1 elements, more than a tensor can index");
        }
        long need = numel * dtype.bytes();
        if (end - begin != need)
            throw new ModelFormatException(path, where + ": data_offsets " + off + " hold " + (end - begin) + " bytes (file offset "
                    + (dataStart + begin) + ") but shape " + Shape.str(shape) + " of " + dtype + " needs " + need + " bytes");
        if (end > fileSize - dataStart)
            throw new ModelFormatException(path, where + ": data_offsets " + off + " (file bytes [" + (dataStart + begin) + ", "
                    + (dataStart + end) + ")) reach past the end of the file (" + fileSize + " bytes)");
        return new Entry(name, dtype, shape, begin, end);
    }

    /** Sorted by offset, the tensors must tile the data section exactly: no overlap, no hole, nothing left over. */
    private static void checkLayout(Path path, List<Entry> list, long dataStart, long fileSize) throws ModelFormatException {
        list.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long expected = 0;
        Entry prev = null;
        for (Entry e : list) {
            if (e.begin() < expected)
                throw new ModelFormatException(path, "tensors '" + prev.name() + "' (data_offsets [" + prev.begin() + ", " + prev.end()
                        + "]) and '" + e.name() + "' (data_offsets [" + e.begin() + ", " + e.end() + "]) overlap at file offset " + (dataStart + e.begin()));
            if (e.begin() > expected)
                throw new ModelFormatException(path, "tensor '" + e.name() + "' starts at data offset " + e.begin() + " (file offset "
                        + (dataStart + e.begin()) + ") but the previous tensor ends at " + expected + ": the data section has a hole");
            expected = e.end();
            prev = e;
        }
        if (dataStart + expected != fileSize)
            throw new ModelFormatException(path, "the tensors end at file offset " + (dataStart + expected) + " but the file has "
                    + fileSize + " bytes: " + (fileSize - dataStart - expected) + " bytes are not described by the header");
    }

    public Path path() { return path; }

    /** The {@code __metadata__} strings (empty when the header has none). */
    public Map<String, String> metadata() { return metadata; }

    /** All tensor entries, in the order of their data. */
    public List<Entry> entries() { return List.copyOf(entries.values()); }

    public boolean contains(String name) { return entries.containsKey(name); }

    public Entry entry(String name) throws ModelFormatException {
        Entry e = entries.get(name);
        if (e == null) throw new ModelFormatException(path, "tensor '" + name + "' is missing");
        return e;
    }

    /** The absolute file offset of the first byte of a tensor's data. */
    public long fileOffset(Entry e) { return dataStart + e.begin(); }

    /** A zero-copy view of an F32, F16, BF16 or I32 tensor. */
    public Tensor tensor(String name) throws ModelFormatException {
        Entry e = entry(name);
        DType dtype = e.dtype().tensorDType();
        if (dtype == null)
            throw new ModelFormatException(path, "tensor '" + name + "' at offset " + fileOffset(e) + " is " + e.dtype()
                    + "; only F32, F16, BF16 and I32 tensors can be read as tensors (use bytes())");
        return file.tensor(fileOffset(e), dtype, e.shape());
    }

    /** The raw little-endian bytes of any tensor, without copying. */
    public MemorySegment bytes(String name) throws ModelFormatException {
        Entry e = entry(name);
        return file.segment().asSlice(fileOffset(e), e.byteSize());
    }

    /**
     * The raw bytes of {@code name}, which must be a {@code dtype} tensor of {@code shape} as {@code expectedBy} (the
     * settings that imply it, for the message) says; otherwise an error names this file, the tensor, its offset, what
     * it is and what was expected.
     */
    public MemorySegment bytes(String name, SafetensorsDType dtype, int[] shape, String expectedBy) throws ModelFormatException {
        Entry e = entry(name);
        if (e.dtype() != dtype || !java.util.Arrays.equals(e.shape(), shape))
            throw new ModelFormatException(path, "tensor '" + name + "' at offset " + fileOffset(e) + " is " + e.dtype() + " " + Shape.str(e.shape())
                    + ", but " + expectedBy + " needs " + dtype + " " + Shape.str(shape));
        return bytes(name);
    }

    /** The raw bytes copied onto the heap. */
    public byte[] byteArray(String name) throws ModelFormatException { return bytes(name).toArray(ValueLayout.JAVA_BYTE); }

    @Override public void close() { file.close(); }
}
