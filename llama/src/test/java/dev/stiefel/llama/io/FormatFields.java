package dev.stiefel.llama.io;

import dev.stiefel.llama.io.Mutations.Field;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * Where a seed file keeps its size, count, offset and type fields, found by walking its structure as the readers do,
 * so the fuzzer can set exactly those to huge or negative values (random offsets hit them too rarely). Arrays
 * contribute their first {@value #PER_ARRAY} elements' fields, so the few header fields are not drowned by a vocabulary.
 */
final class FormatFields {
    private static final int PER_ARRAY = 16;

    private FormatFields() {}

    /** llama2.c checkpoint: the seven header ints, the version and the group size. */
    static List<Field> llama2c(byte[] b) {
        List<Field> f = new ArrayList<>();
        boolean versioned = b.length >= 4 && le(b).getInt(0) == Llama2cLoader.MAGIC;
        int at = versioned ? 8 : 0;
        if (versioned) f.add(new Field(4, 4));
        for (int i = 0; i < 7; i++) f.add(new Field(at + 4 * i, 4));
        if (versioned) f.add(new Field(37, 4));
        return f;
    }

    /** safetensors: the header length. */
    static List<Field> safetensors(byte[] b) { return List.of(new Field(0, 8)); }

    /** llama2.c tokenizer.bin: max_token_length and the length of each of the first records. */
    static List<Field> llama2cTokenizer(byte[] b) {
        List<Field> f = new ArrayList<>(List.of(new Field(0, 4)));
        ByteBuffer in = le(b);
        for (int pos = 4, n = 0; pos + 8 <= b.length && n < 4 * PER_ARRAY; n++) {
            f.add(new Field(pos + 4, 4));
            pos += 8 + Math.max(0, in.getInt(pos + 4));
        }
        return f;
    }

    /** GGUF: version, counts, every key and string length, integer values, value and element types, array counts, dimension counts, ne, tensor types and offsets. */
    static List<Field> gguf(byte[] b) {
        List<Field> f = new ArrayList<>(List.of(new Field(4, 4), new Field(8, 8), new Field(16, 8)));
        ByteBuffer in = le(b);
        try {
            long tensors = in.getLong(8), kvs = in.getLong(16);
            int[] pos = {24};
            for (long i = 0; i < kvs; i++) {
                string(in, pos, f, true);
                f.add(new Field(pos[0], 4));
                int type = in.getInt(pos[0]);
                pos[0] += 4;
                value(in, type, pos, f, true);
            }
            for (long i = 0; i < tensors; i++) {
                string(in, pos, f, true);
                f.add(new Field(pos[0], 4));
                int dims = in.getInt(pos[0]);
                pos[0] += 4;
                for (int d = 0; d < dims; d++, pos[0] += 8) f.add(new Field(pos[0], 8));
                f.add(new Field(pos[0], 4));
                f.add(new Field(pos[0] + 4, 8));
                pos[0] += 12;
            }
        } catch (IndexOutOfBoundsException e) {
            // a seed we cannot walk to the end: the fields found so far
        }
        return f;
    }

    private static void string(ByteBuffer in, int[] pos, List<Field> f, boolean record) {
        if (record) f.add(new Field(pos[0], 8));
        pos[0] += 8 + (int) in.getLong(pos[0]);
    }

    /** A metadata value; 32- and 64-bit integers count as fields too (block_count, embedding_length, token ids, alignment). */
    private static void value(ByteBuffer in, int type, int[] pos, List<Field> f, boolean record) {
        switch (type) {
            case 0, 1, 7 -> pos[0] += 1;
            case 2, 3 -> pos[0] += 2;
            case 4, 5, 6 -> {
                if (record && type != 6) f.add(new Field(pos[0], 4));
                pos[0] += 4;
            }
            case 10, 11, 12 -> {
                if (record && type != 12) f.add(new Field(pos[0], 8));
                pos[0] += 8;
            }
            case 8 -> string(in, pos, f, record);
            case 9 -> {
                int et = in.getInt(pos[0]);
                long n = in.getLong(pos[0] + 4);
                if (record) {
                    f.add(new Field(pos[0], 4));
                    f.add(new Field(pos[0] + 4, 8));
                }
                pos[0] += 12;
                for (long i = 0; i < n; i++) value(in, et, pos, f, record && i < PER_ARRAY);
            }
            default -> throw new IndexOutOfBoundsException("unknown GGUF type " + type);
        }
    }

    private static ByteBuffer le(byte[] b) { return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN); }
}
