package dev.stiefel.llama.io;

import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.DeviceStorage;
import dev.stiefel.tensor.FloatStorage;
import dev.stiefel.tensor.HalfStorage;
import dev.stiefel.tensor.IntStorage;
import dev.stiefel.tensor.MappedStorage;
import dev.stiefel.tensor.Int8Storage;
import dev.stiefel.tensor.PackedStorage;
import dev.stiefel.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;

/**
 * Streams a tensor's elements, row-major and little-endian, into a file in a given dtype. Values already stored
 * in that dtype are written bit for bit (a memory-mapped bf16 weight is copied as raw bytes, never widened and
 * narrowed again); other dtypes are converted with the tensor module's rounding (round to nearest even).
 */
final class TensorBytes {
    private static final int CHUNK = 1 << 20;

    private TensorBytes() {}

    static long byteSize(Tensor t, DType as) { return (long) t.numel() * as.bytes(); }

    static void write(Tensor t, DType as, FileChannel out) throws IOException {
        Tensor host = t.toHost(); // a device tensor comes over in one transfer
        Tensor c = host.dtype() == as && host.isContiguous() && !(host.storage() instanceof PackedStorage || host.storage() instanceof Int8Storage) ? host : host.to(as); // codes are widened
        long n = c.numel(), off = c.offset();
        switch (c.storage()) {
            case MappedStorage m -> {
                long bytes = as.bytes();
                MemorySegment region = m.segment().asSlice(off * bytes, n * bytes);
                for (long p = 0; p < region.byteSize(); p += CHUNK)
                    AtomicFiles.writeFully(out, region.asSlice(p, Math.min(CHUNK, region.byteSize() - p)).asByteBuffer());
            }
            case FloatStorage f -> {
                ByteBuffer buf = buffer();
                for (long i = 0; i < n; ) {
                    int k = (int) Math.min(n - i, CHUNK / 4);
                    buf.clear();
                    buf.asFloatBuffer().put(f.data(), (int) (off + i), k);
                    AtomicFiles.writeFully(out, buf.limit(4 * k));
                    i += k;
                }
            }
            case HalfStorage h -> {
                ByteBuffer buf = buffer();
                for (long i = 0; i < n; ) {
                    int k = (int) Math.min(n - i, CHUNK / 2);
                    buf.clear();
                    buf.asShortBuffer().put(h.bits(), (int) (off + i), k);
                    AtomicFiles.writeFully(out, buf.limit(2 * k));
                    i += k;
                }
            }
            case IntStorage s -> {
                ByteBuffer buf = buffer();
                for (long i = 0; i < n; ) {
                    int k = (int) Math.min(n - i, CHUNK / 4);
                    buf.clear();
                    buf.asIntBuffer().put(s.data(), (int) (off + i), k);
                    AtomicFiles.writeFully(out, buf.limit(4 * k));
                    i += k;
                }
            }
            case DeviceStorage d -> throw new AssertionError("brought to the host above");
            case PackedStorage p -> throw new AssertionError("widened above");
            case Int8Storage q -> throw new AssertionError("widened above");
        }
    }

    /** The tensor's bytes in {@code as}, exactly as {@link #write} puts them in a file (for tests and small tensors). */
    static byte[] toBytes(Tensor t, DType as) {
        Tensor host = t.toHost(); // a device tensor comes over in one transfer
        Tensor c = host.dtype() == as && host.isContiguous() && !(host.storage() instanceof PackedStorage || host.storage() instanceof Int8Storage) ? host : host.to(as); // codes are widened
        int n = c.numel(), off = c.offset();
        if (c.storage() instanceof MappedStorage m)
            return m.segment().asSlice((long) off * as.bytes(), (long) n * as.bytes()).toArray(ValueLayout.JAVA_BYTE);
        ByteBuffer buf = ByteBuffer.allocate(Math.toIntExact(byteSize(c, as))).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            switch (c.storage()) {
                case FloatStorage f -> buf.putInt(Float.floatToRawIntBits(f.data()[off + i]));
                case HalfStorage h -> buf.putShort(h.bits()[off + i]);
                case IntStorage s -> buf.putInt(s.data()[off + i]);
                case MappedStorage m -> throw new AssertionError("handled above");
                case DeviceStorage d -> throw new AssertionError("brought to the host above");
                case PackedStorage p -> throw new AssertionError("widened above");
                case Int8Storage q -> throw new AssertionError("widened above");
            }
        }
        return buf.array();
    }

    private static ByteBuffer buffer() { return ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN); }

}
