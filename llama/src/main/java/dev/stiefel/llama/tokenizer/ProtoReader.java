package dev.stiefel.llama.tokenizer;

import java.nio.charset.StandardCharsets;

/**
 * Just enough of the protobuf wire format to read a SentencePiece {@code ModelProto}: a message is a sequence of
 * (tag, value) records, the tag a varint {@code field << 3 | wireType}; wire type 0 is a varint, 1 eight
 * little-endian bytes, 2 a varint length followed by that many bytes (strings, bytes, nested messages), 5 four
 * little-endian bytes. Unknown fields are skipped by their wire type, so newer files with more fields still load.
 * Every read is bounds-checked and a bad record is reported with the file name and its byte offset.
 */
final class ProtoReader {
    static final int VARINT = 0, FIXED64 = 1, LENGTH_DELIMITED = 2, FIXED32 = 5;

    private final String source;
    private final byte[] data;
    private final int end;
    private int pos;
    private int tag;

    ProtoReader(String source, byte[] data) { this(source, data, 0, data.length); }

    private ProtoReader(String source, byte[] data, int start, int end) {
        this.source = source;
        this.data = data;
        this.pos = start;
        this.end = end;
    }

    boolean hasMore() { return pos < end; }

    /** The byte offset of the next read in the file. */
    int position() { return pos; }

    /** Reads the next tag; {@link #field()} and {@link #wireType()} then describe the value that follows. */
    void nextTag() {
        int at = pos;
        long t = readVarint();
        if (t >>> 3 == 0 || t > Integer.MAX_VALUE) throw error(at, "invalid tag " + t);
        tag = (int) t;
    }

    int field() { return tag >>> 3; }

    int wireType() { return tag & 7; }

    long readVarint() {
        int at = pos;
        long v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos >= end) throw error(at, "varint runs past the end of its message");
            byte b = data[pos++];
            v |= (long) (b & 0x7f) << shift;
            if (b >= 0) return v;
        }
        throw error(at, "varint longer than 10 bytes");
    }

    /** An int32 field: negative values are sign-extended to ten bytes on the wire, so truncation is right. */
    int readInt32() { return (int) readVarint(); }

    boolean readBool() { return readVarint() != 0; }

    float readFloat() {
        expectWireType(FIXED32);
        require(4);
        int bits = (data[pos] & 0xff) | (data[pos + 1] & 0xff) << 8 | (data[pos + 2] & 0xff) << 16 | (data[pos + 3] & 0xff) << 24;
        pos += 4;
        return Float.intBitsToFloat(bits);
    }

    String readString() {
        int length = readLength();
        String s = new String(data, pos, length, StandardCharsets.UTF_8);
        pos += length;
        return s;
    }

    byte[] readBytes() {
        int length = readLength();
        byte[] b = java.util.Arrays.copyOfRange(data, pos, pos + length);
        pos += length;
        return b;
    }

    /** The nested message at the current field, as a reader over exactly its bytes. */
    ProtoReader readMessage() {
        int length = readLength();
        ProtoReader nested = new ProtoReader(source, data, pos, pos + length);
        pos += length;
        return nested;
    }

    void skip() {
        switch (wireType()) {
            case VARINT -> readVarint();
            case FIXED64 -> { require(8); pos += 8; }
            case LENGTH_DELIMITED -> {
                int length = readLength(); // before the addition: readLength itself advances pos
                pos += length;
            }
            case FIXED32 -> { require(4); pos += 4; }
            default -> throw error(pos, "field " + field() + " has unsupported wire type " + wireType()
                    + " (groups, 3 and 4, are not used by SentencePiece models)");
        }
    }

    void expectWireType(int expected) {
        if (wireType() != expected)
            throw error(pos, "field " + field() + " has wire type " + wireType() + ", expected " + expected);
    }

    private int readLength() {
        expectWireType(LENGTH_DELIMITED);
        int at = pos;
        long length = readVarint();
        if (length < 0 || length > end - pos)
            throw error(at, "length " + length + " of field " + field() + " runs past the end of its message (" + (end - pos) + " bytes left)");
        return (int) length;
    }

    private void require(int bytes) {
        if (end - pos < bytes) throw error(pos, "field " + field() + " needs " + bytes + " bytes, " + (end - pos) + " left");
    }

    TokenizerFormatException error(int offset, String what) {
        return new TokenizerFormatException(source + ": protobuf error at byte offset " + offset + ": " + what);
    }
}
