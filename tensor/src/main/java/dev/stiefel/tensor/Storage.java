package dev.stiefel.tensor;

/**
 * The flat buffer under a tensor. Views (reshape, transpose, slice) share one storage and differ only in
 * offset, shape and strides. Heap storages are mutable; memory-mapped ones are read-only; a {@link DeviceStorage}
 * lives in an accelerator's memory and is read through bulk transfers.
 */
public sealed interface Storage permits FloatStorage, HalfStorage, IntStorage, MappedStorage, PackedStorage, Int8Storage, DeviceStorage {
    DType dtype();

    /** Number of elements. */
    long size();

    /** Element {@code i} widened to f32 (I32 values are converted). */
    float getFloat(long i);

    /** Sets element {@code i} from an f32 (narrowed to the storage type). */
    void setFloat(long i, float v);

    default boolean isReadOnly() { return false; }
}
