package dev.stiefel.llama.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Writes protobuf wire format for tests: tokenizer.model files with chosen pieces, flags and extra fields. */
public final class ProtoWriter {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    public ProtoWriter varint(int field, long value) {
        tag(field, 0);
        raw(value);
        return this;
    }

    public ProtoWriter float32(int field, float value) {
        tag(field, 5);
        int bits = Float.floatToIntBits(value);
        for (int i = 0; i < 4; i++) out.write(bits >>> (8 * i));
        return this;
    }

    public ProtoWriter fixed64(int field, long value) {
        tag(field, 1);
        for (int i = 0; i < 8; i++) out.write((int) (value >>> (8 * i)));
        return this;
    }

    public ProtoWriter bytes(int field, byte[] value) {
        tag(field, 2);
        raw(value.length);
        out.writeBytes(value);
        return this;
    }

    public ProtoWriter string(int field, String value) { return bytes(field, value.getBytes(StandardCharsets.UTF_8)); }

    public ProtoWriter message(int field, ProtoWriter nested) { return bytes(field, nested.toByteArray()); }

    private void tag(int field, int wireType) { raw((long) field << 3 | wireType); }

    private void raw(long v) {
        while ((v & ~0x7fL) != 0) {
            out.write((int) (v & 0x7f) | 0x80);
            v >>>= 7;
        }
        out.write((int) v);
    }

    public byte[] toByteArray() { return out.toByteArray(); }

    /** A SentencePiece piece message. */
    public static ProtoWriter piece(String text, float score, int type) {
        ProtoWriter p = new ProtoWriter().string(1, text).float32(2, score);
        if (type != Vocabulary.NORMAL) p.varint(3, type); // NORMAL is the default and usually omitted
        return p;
    }
}
