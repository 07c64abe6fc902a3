package dev.stiefel.opencl;

import dev.stiefel.tensor.DType;
import dev.stiefel.tensor.DeviceStorage;
import dev.stiefel.tensor.Tensor;

/**
 * f32 or i32 elements in one OpenCL buffer of the backend that made them. What Java reads comes over through the
 * backend's counted transfers; the buffer goes back to the pool when the enclosing scope closes or the storage is
 * collected.
 */
final class ClStorage implements DeviceStorage {
    private final OpenClBackend backend;
    private final BufferPool.Handle buffer;
    private final DType dtype;
    private final long size;

    ClStorage(OpenClBackend backend, BufferPool.Handle buffer, DType dtype, long size) {
        this.backend = backend;
        this.buffer = buffer;
        this.dtype = dtype;
        this.size = size;
    }

    BufferPool.Handle buffer() { return buffer; }

    OpenClBackend backend() { return backend; }

    @Override public DType dtype() { return dtype; }

    @Override public long size() { return size; }

    /**
     * The whole buffer on the heap, fetched (one counted download) by the first {@link #getFloat} since the last write:
     * code that reads a device tensor element by element (a test's reference loop, {@code Tensor.get}) costs one
     * transfer, not one per element. A buffer changes only through {@link #setFloat} and {@code copy} into it (an op
     * writes only its fresh result), and both drop the mirror. Softly held: memory pressure may drop it too.
     */
    private volatile java.lang.ref.SoftReference<float[]> mirror;

    @Override public float getFloat(long i) {
        java.lang.ref.SoftReference<float[]> ref = mirror;
        float[] m = ref == null ? null : ref.get();
        if (m == null) {
            m = backend.readAll(this);
            mirror = new java.lang.ref.SoftReference<>(m);
        }
        return m[(int) i];
    }

    @Override public void setFloat(long i, float v) {
        mirror = null;
        backend.writeElement(this, i, v);
    }

    /** Called before anything writes into this buffer. */
    void invalidateMirror() { mirror = null; }

    @Override public Tensor toHost(Tensor view) { return backend.toHost(view); }

    @Override public Tensor contiguousOnDevice(Tensor view) { return backend.contiguousCopy(view); }

    @Override public String toString() { return "ClStorage[" + dtype.lower() + " × " + size + "]"; }
}
