package dev.stiefel.tensor.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Argument checks and element access shared by {@link Sgemm} and {@link Sgemv}. Every index a kernel touches
 * is proven in bounds here, once per call, so a bad argument surfaces as an {@link IllegalArgumentException}
 * naming the shapes instead of an {@link ArrayIndexOutOfBoundsException} from inside a kernel.
 */
final class Operands {
    /** f32 as stored in weight files: little-endian, no alignment promise (memory-mapped at any byte offset). */
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Operands() {}

    static String shape(StridedMatrix m) { return m.rows() + "x" + m.cols(); }

    /**
     * Checks that every element of {@code m} lies inside its array or segment and that array indices fit in
     * an int. {@code what} names the operation and operand for the message, e.g. "gemm: A".
     */
    static void checkBounds(String what, StridedMatrix m) {
        if (m.rows() == 0 || m.cols() == 0) return;
        long lo = m.offset(), hi = m.offset();
        long dr, dc;
        try {
            dr = Math.multiplyExact((long) (m.rows() - 1), m.rowStride());
            dc = Math.multiplyExact((long) (m.cols() - 1), m.colStride());
            lo = Math.addExact(Math.addExact(lo, Math.min(0, dr)), Math.min(0, dc));
            hi = Math.addExact(Math.addExact(hi, Math.max(0, dr)), Math.max(0, dc));
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(what + " (" + shape(m) + ", strides " + m.rowStride() + ","
                    + m.colStride() + ") overflows its index range");
        }
        long size = m.array() != null ? m.array().length : m.segment().byteSize() / Float.BYTES;
        if (lo < 0 || hi >= size)
            throw new IllegalArgumentException(what + " (" + shape(m) + ", offset " + m.offset() + ", strides "
                    + m.rowStride() + "," + m.colStride() + ") reaches element " + (lo < 0 ? lo : hi)
                    + " outside its " + (m.array() != null ? "array" : "segment") + " of " + size + " floats");
    }

    /**
     * A heap view of {@code m} when its segment is a writable heap segment over a float[] at a float-aligned
     * offset (so the faster array paths apply); {@code m} itself otherwise.
     */
    static StridedMatrix heapView(StridedMatrix m) {
        MemorySegment s = m.segment();
        if (s == null) return m;
        Object base = s.heapBase().orElse(null);
        if (base instanceof float[] arr && s.address() % Float.BYTES == 0)
            return StridedMatrix.of(arr, m.offset() + s.address() / Float.BYTES, m.rows(), m.cols(),
                    m.rowStride(), m.colStride());
        return m;
    }

    /** Element (i, j); for the generic (any stride) paths. */
    static float get(StridedMatrix m, int i, int j) {
        long e = m.offset() + i * m.rowStride() + j * m.colStride();
        return m.array() != null ? m.array()[(int) e] : m.segment().get(F32, e * Float.BYTES);
    }

    /** Checks that {@code len} floats from {@code off} fit in {@code v}; names it {@code what}. */
    static void checkVector(String what, float[] v, int off, long len, String context) {
        if (v == null) throw new IllegalArgumentException(context + " but " + what + " is null");
        if (off < 0 || off + len > v.length)
            throw new IllegalArgumentException(context + " but " + what + " (length " + v.length + ", offset " + off
                    + ") has fewer than " + len + " elements");
    }

    /** A thread that never runs: confined segments are the ones it may not access. */
    private static final Thread STRANGER = Thread.ofPlatform().unstarted(() -> {});

    /**
     * {@code threads}, or 1 when an operand is a segment confined to the calling thread (pool threads could
     * not read it).
     */
    static int usableThreads(int threads, StridedMatrix... ms) {
        for (StridedMatrix m : ms)
            if (m.segment() != null && !m.segment().isAccessibleBy(STRANGER)) return 1;
        return threads;
    }

    static void checkThreads(String op, int threads) {
        if (threads < 1) throw new IllegalArgumentException(op + ": threads must be >= 1, got " + threads);
    }
}
