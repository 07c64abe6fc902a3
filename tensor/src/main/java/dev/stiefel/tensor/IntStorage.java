package dev.stiefel.tensor;

/** Heap int32 storage for indices. */
public record IntStorage(int[] data) implements Storage {
    public DType dtype() { return DType.I32; }
    public long size() { return data.length; }
    public float getFloat(long i) { return data[(int) i]; }
    public void setFloat(long i, float v) { data[(int) i] = (int) v; }
    public int getInt(long i) { return data[(int) i]; }
}
