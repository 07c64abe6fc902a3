package dev.stiefel.tensor;

/** Heap f32 storage: what every kernel computes on. */
public record FloatStorage(float[] data) implements Storage {
    public DType dtype() { return DType.F32; }
    public long size() { return data.length; }
    public float getFloat(long i) { return data[(int) i]; }
    public void setFloat(long i, float v) { data[(int) i] = v; }
}
