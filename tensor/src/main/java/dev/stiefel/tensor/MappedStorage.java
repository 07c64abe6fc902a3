package dev.stiefel.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Read-only storage over a region of a memory-mapped file (or any memory segment), little-endian as every
 * model format we read stores it. Nothing is copied onto the heap: a multi-GB checkpoint costs page cache,
 * not Java heap. Regions need not be aligned (safetensors data starts right after a JSON header).
 */
public record MappedStorage(MemorySegment segment, DType dtype) implements Storage {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public MappedStorage {
        if (segment.byteSize() % dtype.bytes() != 0)
            throw new IllegalArgumentException("mapped region of " + segment.byteSize() + " bytes is not a whole number of "
                    + dtype.lower() + " elements (" + dtype.bytes() + " bytes each)");
    }

    public long size() { return segment.byteSize() / dtype.bytes(); }

    public float getFloat(long i) {
        return switch (dtype) {
            case F32 -> segment.getAtIndex(F32, i);
            case F16 -> Half.f16ToFloat(segment.getAtIndex(I16, i));
            case BF16 -> Half.bf16ToFloat(segment.getAtIndex(I16, i));
            case I32 -> segment.getAtIndex(I32, i);
        };
    }

    public void setFloat(long i, float v) {
        throw new IllegalStateException("memory-mapped storage is read-only; copy the tensor first (Tensor.copy())");
    }

    @Override public boolean isReadOnly() { return true; }

    /**
     * Drops this region's pages from the process's resident memory ({@link MemorySegment#unload}, madvise DONTNEED on
     * Linux): the values stay in the file (and usually in the page cache) and come back on the next read. Safe at any
     * time, since the mapping is read-only; a way to stream a model larger than memory one block at a time.
     */
    public void releasePages() {
        if (segment.isMapped()) segment.unload();
    }
}
