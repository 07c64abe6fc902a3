package dev.stiefel.quant.transform;

import dev.stiefel.tensor.Tensor;

/** r ⊗ I_b: a row of r.size() blocks of b features; feature c of every block is mixed across blocks by r. */
final class AcrossBlocks implements Rotation {
    private final Rotation r;
    private final int blocks, b;

    AcrossBlocks(Rotation r, int blockSize) {
        if (blockSize < 1) throw new IllegalArgumentException("rotation across blocks: block size must be >= 1, got " + blockSize);
        this.r = r;
        this.blocks = r.size();
        this.b = blockSize;
    }

    @Override public int size() { return blocks * b; }

    /** The rotation mixing the blocks. */
    Rotation inner() { return r; }

    /** Features per block. */
    int blockSize() { return b; }

    @Override public String describe() { return r.describe() + " ⊗ I_" + b; }

    @Override public void multiplyRows(double[] data, int offset, int count) { apply(data, offset, count, false); }

    @Override public void multiplyRowsTransposed(double[] data, int offset, int count) { apply(data, offset, count, true); }

    /** For each row, the [blocks, b] matrix X becomes rᵀ-mixed: X' = Mᵀ X, done as the rows of Xᵀ times M. */
    private void apply(double[] data, int offset, int count, boolean transposed) {
        int n = size();
        double[] t = new double[n];
        for (int row = 0; row < count; row++) {
            int off = offset + row * n;
            for (int p = 0; p < blocks; p++)
                for (int c = 0; c < b; c++) t[c * blocks + p] = data[off + p * b + c];
            if (transposed) r.multiplyRowsTransposed(t, 0, b);
            else r.multiplyRows(t, 0, b);
            for (int p = 0; p < blocks; p++)
                for (int c = 0; c < b; c++) data[off + p * b + c] = t[c * blocks + p];
        }
    }

    @Override public Tensor multiply(Tensor x) { return apply(x, false); }

    @Override public Tensor multiplyTransposed(Tensor x) { return apply(x, true); }

    private Tensor apply(Tensor x, boolean transposed) {
        int[] s = x.shape();
        Tensor t = x.contiguous().reshape(-1, blocks, b).transpose(1, 2).contiguous();   // [rows, b, blocks]
        t = transposed ? r.multiplyTransposed(t) : r.multiply(t);
        return t.transpose(1, 2).contiguous().reshape(s);
    }

    @Override public String toString() { return describe(); }
}
