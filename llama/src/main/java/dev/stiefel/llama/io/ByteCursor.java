package dev.stiefel.llama.io;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Sequential little-endian reads from a mapped file with bounds checks: reading past the end raises a
 * {@link ModelFormatException} naming the file, the field being read, its offset and the file size, instead of
 * an IndexOutOfBoundsException deep inside the JDK.
 */
final class ByteCursor {
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path file;
    private final MemorySegment segment;
    private long pos;

    ByteCursor(Path file, MemorySegment segment, long pos) {
        this.file = file;
        this.segment = segment;
        this.pos = pos;
    }

    Path file() { return file; }
    long position() { return pos; }
    long size() { return segment.byteSize(); }
    long remaining() { return segment.byteSize() - pos; }

    void seek(long position) throws ModelFormatException {
        if (position < 0 || position > segment.byteSize())
            throw new ModelFormatException(file, "offset " + position + " is outside the file (" + segment.byteSize() + " bytes)");
        pos = position;
    }

    /** Checks that {@code n} bytes of {@code what} can be read at the current position, then advances over them. */
    private long take(long n, String what) throws ModelFormatException {
        if (n < 0 || n > remaining())
            throw new ModelFormatException(file, "truncated: " + what + " at offset " + pos + " needs " + Long.toUnsignedString(n)
                    + " bytes but the file ends at " + segment.byteSize());
        long at = pos;
        pos += n;
        return at;
    }

    int u8(String what) throws ModelFormatException { return segment.get(ValueLayout.JAVA_BYTE, take(1, what)) & 0xFF; }
    byte i8(String what) throws ModelFormatException { return segment.get(ValueLayout.JAVA_BYTE, take(1, what)); }
    short i16(String what) throws ModelFormatException { return segment.get(I16, take(2, what)); }
    int i32(String what) throws ModelFormatException { return segment.get(I32, take(4, what)); }
    long u32(String what) throws ModelFormatException { return Integer.toUnsignedLong(i32(what)); }
    long i64(String what) throws ModelFormatException { return segment.get(I64, take(8, what)); }
    float f32(String what) throws ModelFormatException { return segment.get(F32, take(4, what)); }
    double f64(String what) throws ModelFormatException { return segment.get(F64, take(8, what)); }

    /** An unsigned 64-bit count or length; values of 2^63 and above are reported as malformed. */
    long u64(String what) throws ModelFormatException {
        long at = pos;
        long v = i64(what);
        if (v < 0) throw new ModelFormatException(file, what + " at offset " + at + " is " + Long.toUnsignedString(v) + ", too large for this file");
        return v;
    }

    byte[] bytes(long n, String what) throws ModelFormatException {
        if (n > Integer.MAX_VALUE - 8)
            throw new ModelFormatException(file, what + " at offset " + pos + " claims " + n + " bytes, more than one array can hold");
        long at = take(n, what);
        ReadLimits.elements(n, 1);
        return segment.asSlice(at, n).toArray(ValueLayout.JAVA_BYTE);
    }

    /** A UTF-8 string of {@code n} bytes (malformed sequences become U+FFFD, as most readers of these files do). */
    String utf8(long n, String what) throws ModelFormatException {
        return new String(bytes(n, what), StandardCharsets.UTF_8);
    }
}
