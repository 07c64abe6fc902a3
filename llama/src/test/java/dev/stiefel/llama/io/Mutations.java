package dev.stiefel.llama.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Random;

/**
 * The corruptions the loader fuzz test applies to a seed file. Binary ones: bit flips, overwritten header bytes,
 * truncations, a 4- or 8-byte little-endian field set to a boundary value (0, -1, 2^31-1, 2^32, 2^63-1, ...),
 * inserted, deleted and duplicated ranges. JSON ones edit a parsed tree: a value replaced by another kind (an array by
 * an object, a number by a string, a size by a huge or negative one, a string by a 100,000-character or
 * catastrophically backtracking regex), a key or element removed, duplicated or renamed, deep nesting; then the text
 * sometimes gets a binary corruption too (invalid UTF-8, truncation). Each mutation appends what it did to {@code log}.
 */
final class Mutations {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final long[] BOUNDARY = {0, 1, -1, 0x7FFF_FFFFL, 0x8000_0000L, 0xFFFF_FFFFL, 0x1_0000_0000L, -0x8000_0000L,
            1L << 40, 1L << 62, Long.MAX_VALUE, Long.MIN_VALUE, 0x7FFF_FFF0L, 255, 65536};
    /** Regexes that backtrack exponentially on a run of 'a' that does not end as they want. */
    /** Paths inside the bulk of a file: vocabularies, merge lists, weight maps. */
    private static final java.util.regex.Pattern BULK = java.util.regex.Pattern.compile("\\.(vocab|merges|weight_map|tokens)[.\\[]");
    /** Stands for 1,200 nested arrays, past Jackson's nesting limit of 1000, in the written text. */
    private static final String DEEP = "@deep@";
    private static final String[] REGEX_BOMBS = {"(a+)+$", "(a|a)*b", "(a*)*b", "(?:a|aa)+$", "(.*a){25}", "((a+)+)+c", "(x+x+)+y"};

    private Mutations() {}

    /** A size, count, offset or type field of a format: where it is and how many bytes (4 or 8, little-endian) it has. */
    record Field(int offset, int width) {}

    /** One to three binary corruptions of {@code in}; {@code header} bytes at the start are hit more often. */
    static byte[] binary(byte[] in, Random r, int header, StringBuilder log) { return binary(in, r, header, List.of(), log); }

    /**
     * As {@link #binary(byte[], Random, int, StringBuilder)}, and a third of the time one of {@code fields} (the
     * seed's size and count fields, found by walking its structure) is set to a boundary, huge, negative or nearby value.
     */
    static byte[] binary(byte[] in, Random r, int header, List<Field> fields, StringBuilder log) {
        byte[] b = in;
        int n = 1 + r.nextInt(3);
        for (int i = 0; i < n; i++) {
            Field f = fields.isEmpty() || r.nextInt(3) != 0 ? null : fields.get(r.nextInt(fields.size()));
            b = f != null && f.offset() + f.width() <= b.length ? setField(b, r, f.offset(), f.width(), log) : binaryOnce(b, r, header, log);
        }
        return b;
    }

    private static byte[] setField(byte[] b, Random r, int at, int width, StringBuilder log) {
        b = b.clone();
        ByteBuffer buf = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        long old = width == 4 ? buf.getInt(at) : buf.getLong(at);
        long v = switch (r.nextInt(4)) {
            case 0 -> old + (r.nextBoolean() ? 1 : -1);
            case 1 -> old << (1 + r.nextInt(20));
            case 2 -> r.nextLong();
            default -> BOUNDARY[r.nextInt(BOUNDARY.length)];
        };
        if (width == 4) buf.putInt(at, (int) v);
        else buf.putLong(at, v);
        log.append("int").append(8 * width).append(" at ").append(at).append(" = ").append(width == 4 ? (int) v : v).append("; ");
        return b;
    }

    private static int offset(byte[] b, Random r, int header, int width) {
        int limit = Math.max(1, (r.nextBoolean() ? Math.min(header, b.length) : b.length) - width + 1);
        int at = r.nextInt(limit);
        return r.nextInt(4) == 0 ? at : at & ~(width - 1); // fields are usually aligned to their width
    }

    private static byte[] binaryOnce(byte[] b, Random r, int header, StringBuilder log) {
        if (b.length == 0) {
            log.append("append; ");
            return new byte[]{(byte) r.nextInt()};
        }
        switch (r.nextInt(8)) {
            case 0 -> { // bit flips
                b = b.clone();
                int flips = 1 + r.nextInt(8);
                for (int i = 0; i < flips; i++) {
                    int at = offset(b, r, header, 1);
                    b[at] ^= (byte) (1 << r.nextInt(8));
                }
                log.append("flip ").append(flips).append(" bits; ");
            }
            case 1 -> { // overwrite header bytes
                b = b.clone();
                int at = r.nextInt(Math.min(header, b.length)), len = 1 + r.nextInt(16);
                for (int i = at; i < Math.min(b.length, at + len); i++) b[i] = (byte) r.nextInt();
                log.append("overwrite ").append(len).append(" bytes at ").append(at).append("; ");
            }
            case 2 -> { // truncate
                int len = r.nextBoolean() ? r.nextInt(Math.min(b.length, header * 4)) : r.nextInt(b.length);
                b = Arrays.copyOf(b, len);
                log.append("truncate to ").append(len).append("; ");
            }
            case 3, 4 -> { // some 4 or 8 bytes that may be a size or count field set to a boundary value
                int width = r.nextBoolean() ? 4 : 8;
                if (b.length < width) return binaryOnce(b, r, header, log);
                b = setField(b, r, offset(b, r, header, width), width, log);
            }
            case 5 -> { // delete a range
                int at = r.nextInt(b.length), len = 1 + r.nextInt(Math.min(64, b.length - at));
                byte[] c = new byte[b.length - len];
                System.arraycopy(b, 0, c, 0, at);
                System.arraycopy(b, at + len, c, at, b.length - at - len);
                log.append("delete ").append(len).append(" at ").append(at).append("; ");
                b = c;
            }
            case 6 -> { // insert random bytes
                int at = r.nextInt(b.length + 1), len = 1 + r.nextInt(16);
                byte[] c = new byte[b.length + len];
                System.arraycopy(b, 0, c, 0, at);
                for (int i = 0; i < len; i++) c[at + i] = (byte) r.nextInt();
                System.arraycopy(b, at, c, at + len, b.length - at);
                log.append("insert ").append(len).append(" at ").append(at).append("; ");
                b = c;
            }
            default -> { // duplicate a range in place of another
                b = b.clone();
                int len = 1 + r.nextInt(Math.min(32, b.length));
                int from = r.nextInt(b.length - len + 1), to = r.nextInt(b.length - len + 1);
                System.arraycopy(b.clone(), from, b, to, len);
                log.append("copy ").append(len).append(" from ").append(from).append(" to ").append(to).append("; ");
            }
        }
        return b;
    }

    /** One to three edits of the JSON tree in {@code in} (binary corruption when it does not parse), sometimes followed by a binary one. */
    static byte[] json(byte[] in, Random r, StringBuilder log) {
        JsonNode root;
        try {
            root = JSON.readTree(in);
        } catch (IOException e) {
            return binary(in, r, 64, log);
        }
        if (root == null || !root.isContainerNode()) return binary(in, r, 64, log);
        int n = 1 + r.nextInt(3);
        for (int i = 0; i < n; i++) root = jsonOnce(root, r, log);
        byte[] out;
        try {
            out = JSON.writeValueAsBytes(root);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        String text = new String(out, java.nio.charset.StandardCharsets.UTF_8);
        if (text.contains(DEEP))
            out = text.replace('"' + DEEP + '"', "[".repeat(1_200) + "]".repeat(1_200)).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        if (r.nextInt(5) == 0) {
            if (r.nextBoolean() && out.length > 0) { // invalid UTF-8
                out = out.clone();
                int at = r.nextInt(out.length);
                out[at] = (byte) (r.nextBoolean() ? 0xFF : 0xC0);
                log.append("invalid UTF-8 byte at ").append(at).append("; ");
            } else {
                out = binary(out, r, 64, log);
            }
        }
        return out;
    }

    /** A place in the tree: a container and a key (objects) or index (arrays). */
    private record Slot(JsonNode parent, String key, int index, String path) {
        JsonNode get() { return key != null ? parent.get(key) : parent.get(index); }

        void set(JsonNode v) {
            if (key != null) ((ObjectNode) parent).set(key, v);
            else ((ArrayNode) parent).set(index, v);
        }

        void remove() {
            if (key != null) ((ObjectNode) parent).remove(key);
            else ((ArrayNode) parent).remove(index);
        }
    }

    private static void slots(JsonNode node, String path, List<Slot> out) {
        if (node.isObject()) {
            for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                out.add(new Slot(node, k, -1, path + "." + k));
                slots(node.get(k), path + "." + k, out);
            }
        } else if (node.isArray()) {
            for (int i = 0; i < node.size(); i++) {
                out.add(new Slot(node, null, i, path + "[" + i + "]"));
                slots(node.get(i), path + "[" + i + "]", out);
            }
        }
    }

    private static JsonNode jsonOnce(JsonNode root, Random r, StringBuilder log) {
        List<Slot> all = new ArrayList<>();
        slots(root, "$", all);
        if (all.isEmpty()) return root;
        // half the time skip the bulk (vocabularies, merge lists, weight maps) to reach the structure around them
        List<Slot> structural = all.stream().filter(s -> !BULK.matcher(s.path()).find()).toList();
        Slot s = r.nextBoolean() && !structural.isEmpty() ? structural.get(r.nextInt(structural.size())) : all.get(r.nextInt(all.size()));
        JsonNode old = s.get();
        switch (r.nextInt(7)) {
            case 0 -> {
                s.remove();
                log.append("remove ").append(s.path()).append("; ");
            }
            case 1 -> { // array <-> object
                JsonNode swapped;
                if (old.isArray()) {
                    ObjectNode o = NODES.objectNode();
                    for (int i = 0; i < old.size(); i++) o.set(Integer.toString(i), old.get(i));
                    swapped = o;
                } else if (old.isObject()) {
                    ArrayNode a = NODES.arrayNode();
                    old.forEach(a::add);
                    swapped = a;
                } else {
                    swapped = r.nextBoolean() ? NODES.objectNode().set("x", old) : NODES.arrayNode().add(old);
                }
                s.set(swapped);
                log.append("swap array/object at ").append(s.path()).append("; ");
            }
            case 2 -> { // duplicate an element or add a stray key
                if (s.key() == null) ((ArrayNode) s.parent()).insert(s.index(), old.deepCopy());
                else ((ObjectNode) s.parent()).set(s.key() + (r.nextBoolean() ? "_" : ""), randomValue(r));
                log.append("duplicate at ").append(s.path()).append("; ");
            }
            case 3 -> { // rename a key
                if (s.key() != null) {
                    ObjectNode p = (ObjectNode) s.parent();
                    p.remove(s.key());
                    p.set(s.key().isEmpty() ? "x" : s.key().substring(1), old);
                }
                log.append("rename ").append(s.path()).append("; ");
            }
            default -> {
                JsonNode v = old.isNumber() || r.nextInt(3) == 0 ? extremeNumber(r) : randomValue(r);
                s.set(v);
                String shown = v.toString();
                log.append("set ").append(s.path()).append(" = ").append(shown.length() > 40 ? shown.substring(0, 40) + "..." : shown).append("; ");
            }
        }
        return root;
    }

    private static JsonNode extremeNumber(Random r) {
        return switch (r.nextInt(8)) {
            case 0 -> NODES.numberNode(-1);
            case 1 -> NODES.numberNode(0);
            case 2 -> NODES.numberNode(Integer.MAX_VALUE);
            case 3 -> NODES.numberNode(1L << 31);
            case 4 -> NODES.numberNode(Long.MAX_VALUE);
            case 5 -> NODES.numberNode(BigInteger.TEN.pow(30));
            case 6 -> NODES.numberNode(r.nextBoolean() ? 1e308 : -0.5);
            default -> NODES.numberNode(r.nextInt(100_000) - 50_000);
        };
    }

    private static JsonNode randomValue(Random r) {
        return switch (r.nextInt(12)) {
            case 0 -> NODES.nullNode();
            case 1 -> NODES.booleanNode(r.nextBoolean());
            case 2 -> NODES.textNode("");
            case 3 -> NODES.textNode("x\u0000\u2581" + r.nextInt());
            case 4 -> NODES.textNode("a".repeat(r.nextBoolean() ? 100_000 : 4_000));
            case 5 -> NODES.textNode(REGEX_BOMBS[r.nextInt(REGEX_BOMBS.length)]);
            case 6 -> NODES.objectNode();
            case 7 -> NODES.arrayNode();
            case 8 -> NODES.arrayNode().add(r.nextInt(10)).add(-1).add(Integer.MAX_VALUE);
            case 9 -> NODES.textNode(DEEP); // spliced in as text: Jackson will not write what it will not read
            case 10 -> NODES.objectNode().put("type", r.nextBoolean() ? "Sequence" : "Split").put("Regex", REGEX_BOMBS[r.nextInt(REGEX_BOMBS.length)]);
            default -> extremeNumber(r);
        };
    }
}
