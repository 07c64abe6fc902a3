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

    @Override public float getFloat(long i) { return backend.readElement(this, i); }

    @Override public void setFloat(long i, float v) { backend.writeElement(this, i, v); }

    @Override public Tensor toHost(Tensor view) { return backend.toHost(view); }

    @Override public Tensor contiguousOnDevice(Tensor view) { return backend.contiguousCopy(view); }

    @Override public String toString() { return "ClStorage[" + dtype.lower() + " × " + size + "]"; }
}
