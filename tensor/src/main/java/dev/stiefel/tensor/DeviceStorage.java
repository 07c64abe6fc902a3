package dev.stiefel.tensor;

/**
 * Storage in an accelerator's memory (the OpenCL backend's buffers). The tensor module knows no device: it only
 * needs the elements brought to the heap in one transfer when Java code reads them ({@link Tensor#toFloatArray},
 * {@link Tensor#copy}, a CPU kernel), and a contiguous copy that stays where it is when a view must be made
 * contiguous ({@link Tensor#contiguous}, {@link Tensor#reshape}). {@link #getFloat}/{@link #setFloat} move one
 * element each and are meant for {@link Tensor#item} and the like, not for loops.
 *
 * <p>Device storages hold f32 or i32 only; the backend that made one is the one that computes on it.
 */
public non-sealed interface DeviceStorage extends Storage {
    /** The elements of {@code view} (a view of this storage) as a contiguous heap tensor of the same dtype. */
    Tensor toHost(Tensor view);

    /** The elements of {@code view} as a contiguous tensor in a fresh storage on the same device. */
    Tensor contiguousOnDevice(Tensor view);
}
