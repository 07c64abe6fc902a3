package dev.stiefel.llama.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stiefel.llama.LlamaConfig;
import dev.stiefel.llama.LlamaWeights;
import dev.stiefel.tensor.PackedStorage;
import dev.stiefel.tensor.Rope;
import dev.stiefel.tensor.Shape;
import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.packed.PackedMatrix;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;

/**
 * Stiefel's packed model directory (docs/FORMAT.md): a Hugging Face checkpoint layout whose {@code config.json} has a
 * {@value #SECTION} object, and whose quantized matrices are stored as their low-bit codes instead of a {@code .weight}:
 * <ul>
 *   <li>{@code P.codes} U8 [rows, ⌈cols/32⌉·4·bits]: {@link PackedMatrix}'s blocks, read in place (memory-mapped);</li>
 *   <li>{@code P.scales} F32 [rows, groups];</li>
 *   <li>{@code P.zeros} U8 [rows, groups], for an asymmetric grid only.</li>
 * </ul>
 * Every packed matrix has the one layout of the section's {@code packing} object ({@link Packing}); a matrix the
 * writer could not pack is stored as an ordinary {@code P.weight} and listed under the section's {@code fallback}.
 * Q/K rows are in the order the section's {@code rope_layout} names (the order the model was quantized in, so
 * whatever acts on a head's features at run time sees them as it did then). What the rest of the section means
 * (the method, the activation and KV quantizers, the online transforms) is the quant module's business: this class
 * checks the packed tensors against {@code packing} and hands the section on.
 */
public final class PackedCheckpoint {
    /** The config.json key that makes a checkpoint a packed one. */
    public static final String SECTION = "quantization";
    /** The format name in the section, and its version. */
    public static final String FORMAT = "stiefel-packed";
    public static final int VERSION = 1;

    /** Tensors the section refers to (learned online transforms' factors, in f64) are named {@value}… in model.safetensors. */
    public static final String TENSOR_PREFIX = "quantization.";

    private PackedCheckpoint() {}

    /** The storage layout shared by every packed matrix: code width (2, 3, 4, 8), group size (0: one per row), grid. */
    public record Packing(int bits, int groupSize, boolean symmetric) {
        static final Set<Integer> BITS = Set.of(2, 3, 4, 8);

        public Packing {
            if (!BITS.contains(bits)) throw new IllegalArgumentException("packing: codes are 2, 3, 4 or 8 bits wide, not " + bits);
            if (groupSize < 0 || groupSize % PackedMatrix.BLOCK != 0)
                throw new IllegalArgumentException("packing: group size must be 0 (per row) or a multiple of " + PackedMatrix.BLOCK + ", not " + groupSize);
        }

        int groups(int cols) {
            int blocks = (cols + PackedMatrix.BLOCK - 1) / PackedMatrix.BLOCK;
            int per = groupSize == 0 ? Math.max(blocks, 1) : groupSize / PackedMatrix.BLOCK;
            return cols == 0 ? 0 : (blocks + per - 1) / per;
        }

        int rowBytes(int cols) { return (cols + PackedMatrix.BLOCK - 1) / PackedMatrix.BLOCK * 4 * bits; }

        boolean matches(PackedMatrix m) { return m.bits() == bits && m.groupSize() == groupSize && m.symmetric() == symmetric; }

        ObjectNode toJson() {
            return HuggingFaceConfig.JSON.createObjectNode().put("bits", bits).put("group_size", groupSize).put("symmetric", symmetric);
        }

        @Override public String toString() { return "int" + bits + (groupSize == 0 ? " per row" : " g" + groupSize) + (symmetric ? " symmetric" : " asymmetric"); }
    }

    // ------------------------------------------------------------ writing

    /**
     * Writes {@code w} to {@code dir}: each tensor whose storage is a {@link PackedStorage} (its matrix in
     * {@code packing}'s layout) as codes, scales and zero points, every other tensor in its own dtype under its
     * Hugging Face name, and config.json (last, atomically: it makes the directory a checkpoint) with {@code section}
     * plus the format, version, packing and RoPE layout. Rows stay in {@code w}'s RoPE order.
     */
    public static void write(LlamaWeights w, Packing packing, ObjectNode section, Map<String, double[]> sectionTensors, Path dir) throws IOException {
        SafetensorsWriter out = new SafetensorsWriter().metadata("format", "pt").metadata("stiefel", FORMAT);
        for (Map.Entry<String, double[]> e : sectionTensors.entrySet()) {
            if (!e.getKey().startsWith(TENSOR_PREFIX))
                throw new IllegalArgumentException("packed checkpoint: the section's tensor '" + e.getKey() + "' must be named " + TENSOR_PREFIX + "...");
            ByteBuffer b = ByteBuffer.allocate(8 * e.getValue().length).order(ByteOrder.LITTLE_ENDIAN);
            b.asDoubleBuffer().put(e.getValue());
            out.addRaw(e.getKey(), SafetensorsDType.F64, new int[]{e.getValue().length}, b.array());
        }
        for (Map.Entry<String, Tensor> e : HuggingFaceWriter.names(w).entrySet()) {
            Tensor t = e.getValue();
            if (!(t.storage() instanceof PackedStorage ps)) { out.add(e.getKey(), t); continue; }
            PackedMatrix m = ps.matrix();
            if (!packing.matches(m))
                throw new IllegalArgumentException("packed checkpoint: " + e.getKey() + " is " + m + ", but the file's packing is " + packing);
            addPacked(out, prefix(e.getKey()), m);
        }
        ObjectNode q = section.deepCopy();
        q.put("format", FORMAT).put("version", VERSION);
        q.set("packing", packing.toJson());
        q.put("rope_layout", w.config().ropeLayout().name().toLowerCase(java.util.Locale.ROOT));
        ObjectNode config = HuggingFaceConfig.toJson(w.config(), w.embedding().dtype());
        config.set(SECTION, q);
        Files.createDirectories(dir);
        Files.deleteIfExists(dir.resolve(HuggingFaceLoader.INDEX));
        out.write(dir.resolve(HuggingFaceLoader.SINGLE));
        byte[] bytes = (config.toPrettyString() + "\n").getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(dir.resolve(HuggingFaceLoader.CONFIG), o -> AtomicFiles.writeFully(o, ByteBuffer.wrap(bytes)));
    }

    /** Adds {@code m} to {@code out} as {@code P.codes}, {@code P.scales} and (asymmetric grids) {@code P.zeros}, P = {@code prefix}. */
    public static void addPacked(SafetensorsWriter out, String prefix, PackedMatrix m) {
        out.addRaw(prefix + ".codes", SafetensorsDType.U8, new int[]{m.rows(), m.rowBytes()}, m.codes().asSlice(0, (long) m.rows() * m.rowBytes()));
        ByteBuffer sc = ByteBuffer.allocate(4 * m.scales().length).order(ByteOrder.LITTLE_ENDIAN);
        sc.asFloatBuffer().put(m.scales());
        out.addRaw(prefix + ".scales", SafetensorsDType.F32, new int[]{m.rows(), m.groups()}, sc.array());
        if (!m.symmetric()) out.addRaw(prefix + ".zeros", SafetensorsDType.U8, new int[]{m.rows(), m.groups()}, m.zeros().clone());
    }

    private static String prefix(String weightName) {
        if (!weightName.endsWith(".weight")) throw new IllegalArgumentException("packed checkpoint: " + weightName + " is not a weight");
        return weightName.substring(0, weightName.length() - ".weight".length());
    }

    // ------------------------------------------------------------ reading

    /** The section of a config.json, or null when the checkpoint is not a packed one. */
    static JsonNode section(JsonNode root) { return root.get(SECTION); }

    /** The packing of a section, each field checked; an error names the file and the field. */
    static Packing packing(Path file, JsonNode section) throws ModelFormatException {
        if (!section.isObject()) throw new ModelFormatException(file, SECTION + " must be an object");
        if (!FORMAT.equals(section.path("format").asText(null)))
            throw new ModelFormatException(file, SECTION + ".format must be \"" + FORMAT + "\", got " + section.get("format"));
        if (section.path("version").asInt(-1) != VERSION)
            throw new ModelFormatException(file, SECTION + ".version " + section.get("version") + " is not read by this build (it reads version " + VERSION + ")");
        JsonNode p = section.path("packing");
        if (!p.path("bits").canConvertToExactIntegral() || !p.path("group_size").canConvertToExactIntegral() || !p.path("symmetric").isBoolean())
            throw new ModelFormatException(file, SECTION + ".packing must be {bits, group_size, symmetric}, got " + p);
        try {
            return new Packing(p.get("bits").asInt(), p.get("group_size").asInt(), p.get("symmetric").asBoolean());
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file, SECTION + "." + e.getMessage());
        }
    }

    /** The config's RoPE layout as the section records it. */
    static LlamaConfig withRopeLayout(Path file, LlamaConfig c, JsonNode section) throws ModelFormatException {
        String layout = section.path("rope_layout").asText("");
        for (Rope.Layout l : Rope.Layout.values()) if (l.name().equalsIgnoreCase(layout)) return c.withRopeLayout(l);
        throw new ModelFormatException(file, SECTION + ".rope_layout must be one of " + Arrays.toString(Rope.Layout.values()) + ", got " + section.get("rope_layout"));
    }

    /**
     * The section's tensors of a packed checkpoint directory: every {@value #TENSOR_PREFIX}… tensor of its
     * model.safetensors, each an F64 vector (an error names the file, the tensor and its offset otherwise).
     */
    static Map<String, double[]> sectionTensors(Path dir) throws IOException {
        Map<String, double[]> out = new java.util.LinkedHashMap<>();
        Path file = dir.resolve(HuggingFaceLoader.SINGLE);
        if (!Files.isRegularFile(file)) return out;
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (SafetensorsFile.Entry e : f.entries()) {
                if (!e.name().startsWith(TENSOR_PREFIX)) continue;
                if (e.dtype() != SafetensorsDType.F64 || e.shape().length != 1)
                    throw new ModelFormatException(file, "tensor '" + e.name() + "' at offset " + f.fileOffset(e) + " is " + e.dtype() + " " + Shape.str(e.shape())
                            + ", but the quantization section's tensors are F64 vectors");
                out.put(e.name(), f.bytes(e.name()).toArray(ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN)));
            }
        }
        return out;
    }

    /** Whether {@code P.weight} is stored packed in this file. */
    static boolean isPacked(Map<String, SafetensorsFile> where, String weightName) {
        return weightName.endsWith(".weight") && !where.containsKey(weightName) && where.containsKey(prefix(weightName) + ".codes");
    }

    /** The names of the tensors that stand for a packed {@code P.weight}. */
    static java.util.List<String> tensorNames(String weightName, Packing packing) {
        String p = prefix(weightName);
        return packing.symmetric() ? java.util.List.of(p + ".codes", p + ".scales") : java.util.List.of(p + ".codes", p + ".scales", p + ".zeros");
    }

    /**
     * The packed matrix standing for {@code P.weight} [rows, cols], its codes mapped in place; each tensor's dtype and
     * shape are checked against the packing, and an error names the file, the tensor, its offset and what was expected.
     */
    static Tensor read(Map<String, SafetensorsFile> where, String weightName, Packing packing, int rows, int cols) throws ModelFormatException {
        String p = prefix(weightName);
        MemorySegment codes = checked(where, p + ".codes", SafetensorsDType.U8, rows, packing.rowBytes(cols));
        float[] scales = checked(where, p + ".scales", SafetensorsDType.F32, rows, packing.groups(cols))
                .toArray(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
        byte[] zeros = null;
        if (!packing.symmetric()) zeros = checked(where, p + ".zeros", SafetensorsDType.U8, rows, packing.groups(cols)).toArray(ValueLayout.JAVA_BYTE);
        else if (where.containsKey(p + ".zeros"))
            throw new ModelFormatException(where.get(p + ".zeros").path(), "tensor '" + p + ".zeros' is present, but the packing is " + packing + " (no zero points)");
        try {
            return PackedStorage.tensor(PackedMatrix.of(codes, rows, cols, packing.bits(), packing.groupSize(), packing.symmetric(), scales, zeros));
        } catch (IllegalArgumentException e) { // a non-finite scale or an out-of-range zero point
            throw new ModelFormatException(where.get(p + ".codes").path(), "packed matrix '" + p + "': " + e.getMessage());
        }
    }

    /**
     * The packed matrix {@link #addPacked} wrote under {@code prefix} in {@code f}, [rows, cols] in {@code packing}'s
     * layout, its codes copied to the heap (the file may be closed after); checked as {@link #read} checks.
     */
    public static Tensor readPacked(SafetensorsFile f, String prefix, Packing packing, int rows, int cols) throws ModelFormatException {
        Map<String, SafetensorsFile> where = new java.util.HashMap<>();
        for (String name : tensorNames(prefix + ".weight", packing)) if (f.contains(name)) where.put(name, f);
        if (where.isEmpty()) throw new ModelFormatException(f.path(), "packed tensor '" + prefix + ".codes' is missing");
        PackedMatrix m = ((PackedStorage) read(where, prefix + ".weight", packing, rows, cols).storage()).matrix();
        MemorySegment heap = MemorySegment.ofArray(m.codes().toArray(ValueLayout.JAVA_BYTE));
        return PackedStorage.tensor(PackedMatrix.of(heap, rows, cols, m.bits(), m.groupSize(), m.symmetric(), m.scales(), m.zeros()));
    }

    private static MemorySegment checked(Map<String, SafetensorsFile> where, String name, SafetensorsDType dtype, int... shape) throws ModelFormatException {
        SafetensorsFile f = where.get(name);
        if (f == null) throw new ModelFormatException(where.values().iterator().next().path(), "packed tensor '" + name + "' is missing");
        return f.bytes(name, dtype, shape, "the packing in config.json");
    }
}
