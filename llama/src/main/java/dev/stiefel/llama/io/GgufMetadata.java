package dev.stiefel.llama.io;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The key/value metadata of a GGUF file, in file order, with typed accessors whose errors name the file, the key,
 * its offset, the type found and the type wanted.
 */
public final class GgufMetadata {
    private final Path file;
    private final Map<String, GgufValue> values;

    GgufMetadata(Path file, Map<String, GgufValue> values) {
        this.file = file;
        this.values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
    }

    public Map<String, GgufValue> asMap() { return values; }
    public Set<String> keys() { return values.keySet(); }
    public boolean contains(String key) { return values.containsKey(key); }
    public GgufValue get(String key) { return values.get(key); }

    private GgufValue require(String key) throws ModelFormatException {
        GgufValue v = values.get(key);
        if (v == null) throw new ModelFormatException(file, "metadata key " + key + " is missing");
        return v;
    }

    private ModelFormatException wrongType(String key, GgufValue v, String wanted) {
        return new ModelFormatException(file, "metadata key " + key + " at offset " + v.offset() + " is " + v.type()
                + (v.type() == GgufValue.Type.ARRAY ? " of " + v.elementType() : "") + ", expected " + wanted);
    }

    public String string(String key) throws ModelFormatException {
        GgufValue v = require(key);
        if (v.type() != GgufValue.Type.STRING) throw wrongType(key, v, "a STRING");
        return (String) v.value();
    }

    public String string(String key, String dflt) throws ModelFormatException { return contains(key) ? string(key) : dflt; }

    /** Any integer type, as a long (uint64 values of 2^63 and above are rejected as malformed when read). */
    public long integer(String key) throws ModelFormatException {
        GgufValue v = require(key);
        if (!v.type().isInteger()) throw wrongType(key, v, "an integer");
        return ((Number) v.value()).longValue();
    }

    public long integer(String key, long dflt) throws ModelFormatException { return contains(key) ? integer(key) : dflt; }

    /** An integer that must fit a positive int (a size or count). */
    public int size(String key) throws ModelFormatException {
        long n = integer(key);
        if (n <= 0 || n > Integer.MAX_VALUE)
            throw new ModelFormatException(file, "metadata key " + key + " at offset " + require(key).offset() + " is " + n + ", expected a positive size");
        return (int) n;
    }

    public int size(String key, int dflt) throws ModelFormatException { return contains(key) ? size(key) : dflt; }

    /** Any numeric type, as a double. */
    public double number(String key) throws ModelFormatException {
        GgufValue v = require(key);
        if (!v.type().isNumber()) throw wrongType(key, v, "a number");
        return ((Number) v.value()).doubleValue();
    }

    public double number(String key, double dflt) throws ModelFormatException { return contains(key) ? number(key) : dflt; }

    public boolean bool(String key, boolean dflt) throws ModelFormatException {
        GgufValue v = values.get(key);
        if (v == null) return dflt;
        if (v.type() != GgufValue.Type.BOOL) throw wrongType(key, v, "a BOOL");
        return (Boolean) v.value();
    }

    private List<?> array(String key, String wanted, GgufValue.Type... elementTypes) throws ModelFormatException {
        GgufValue v = require(key);
        if (v.type() == GgufValue.Type.ARRAY) for (GgufValue.Type t : elementTypes) if (v.elementType() == t) return v.list();
        throw wrongType(key, v, wanted);
    }

    public List<String> strings(String key) throws ModelFormatException {
        @SuppressWarnings("unchecked") List<String> l = (List<String>) array(key, "an ARRAY of STRING", GgufValue.Type.STRING);
        return l;
    }

    /** An array of FLOAT32 (or any numeric type) as floats. */
    public float[] floats(String key) throws ModelFormatException {
        List<?> l = array(key, "an ARRAY of numbers", numericTypes());
        float[] f = new float[l.size()];
        for (int i = 0; i < f.length; i++) f[i] = ((Number) l.get(i)).floatValue();
        return f;
    }

    /** An array of integers that fit an int. */
    public int[] ints(String key) throws ModelFormatException {
        List<?> l = array(key, "an ARRAY of integers", integerTypes());
        int[] a = new int[l.size()];
        for (int i = 0; i < a.length; i++) {
            long x = ((Number) l.get(i)).longValue();
            if (x != (int) x) throw new ModelFormatException(file, "metadata key " + key + " element " + i + " is " + x + ", which does not fit an int");
            a[i] = (int) x;
        }
        return a;
    }

    private static GgufValue.Type[] numericTypes() {
        return java.util.Arrays.stream(GgufValue.Type.values()).filter(GgufValue.Type::isNumber).toArray(GgufValue.Type[]::new);
    }

    private static GgufValue.Type[] integerTypes() {
        return java.util.Arrays.stream(GgufValue.Type.values()).filter(GgufValue.Type::isInteger).toArray(GgufValue.Type[]::new);
    }

    @Override public String toString() { return values.toString(); }
}
