package dev.stiefel.llama.io;

import java.util.ArrayList;
import java.util.List;

/**
 * One GGUF metadata value with its wire type. Integers of up to 32 bits read as {@link Integer} (uint32 as
 * {@link Long}, so it stays unsigned), 64-bit ones as {@link Long}, FLOAT32 as {@link Float}, FLOAT64 as
 * {@link Double}, BOOL as {@link Boolean}, STRING as {@link String} and ARRAY as an unmodifiable {@link List} of
 * those, all of {@code elementType}.
 *
 * @param offset where the value starts in the file it was read from (-1 for values made in memory)
 */
public record GgufValue(Type type, Object value, Type elementType, long offset) {

    /** GGUF's value types (gguf.h's {@code enum gguf_type}); {@code size} is the wire size of scalars, 0 if variable. */
    public enum Type {
        UINT8(0, 1), INT8(1, 1), UINT16(2, 2), INT16(3, 2), UINT32(4, 4), INT32(5, 4), FLOAT32(6, 4), BOOL(7, 1), STRING(8, 0),
        ARRAY(9, 0), UINT64(10, 8), INT64(11, 8), FLOAT64(12, 8);

        private final int id, size;

        Type(int id, int size) {
            this.id = id;
            this.size = size;
        }

        public int id() { return id; }
        public int size() { return size; }
        public boolean isInteger() { return this != FLOAT32 && this != FLOAT64 && size > 0 && this != BOOL; }
        public boolean isNumber() { return isInteger() || this == FLOAT32 || this == FLOAT64; }

        public static Type of(long id) {
            for (Type t : values()) if (t.id == id) return t;
            return null;
        }
    }

    public static GgufValue u32(long v) {
        if (v < 0 || v > 0xFFFF_FFFFL) throw new IllegalArgumentException("gguf: " + v + " does not fit a uint32");
        return new GgufValue(Type.UINT32, v, null, -1);
    }
    public static GgufValue i32(int v) { return new GgufValue(Type.INT32, v, null, -1); }
    public static GgufValue u64(long v) { return new GgufValue(Type.UINT64, v, null, -1); }
    public static GgufValue f32(float v) { return new GgufValue(Type.FLOAT32, v, null, -1); }
    public static GgufValue f64(double v) { return new GgufValue(Type.FLOAT64, v, null, -1); }
    public static GgufValue bool(boolean v) { return new GgufValue(Type.BOOL, v, null, -1); }
    public static GgufValue string(String v) { return new GgufValue(Type.STRING, v, null, -1); }

    public static GgufValue strings(List<String> v) { return new GgufValue(Type.ARRAY, List.copyOf(v), Type.STRING, -1); }

    public static GgufValue f32s(float[] v) {
        List<Object> l = new ArrayList<>(v.length);
        for (float f : v) l.add(f);
        return new GgufValue(Type.ARRAY, List.copyOf(l), Type.FLOAT32, -1);
    }

    public static GgufValue i32s(int[] v) {
        List<Object> l = new ArrayList<>(v.length);
        for (int i : v) l.add(i);
        return new GgufValue(Type.ARRAY, List.copyOf(l), Type.INT32, -1);
    }

    /** An array of {@code elementType} (not ARRAY: nested arrays are legal GGUF but not written here). */
    public static GgufValue array(Type elementType, List<?> values) { return new GgufValue(Type.ARRAY, List.copyOf(values), elementType, -1); }

    public List<?> list() { return (List<?>) value; }

    @Override public String toString() {
        if (type != Type.ARRAY) return type + " " + value;
        List<?> l = list();
        return "ARRAY of " + l.size() + " " + elementType + (l.size() <= 8 ? " " + l : "");
    }
}
