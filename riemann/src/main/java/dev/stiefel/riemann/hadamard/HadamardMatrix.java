package dev.stiefel.riemann.hadamard;

import dev.stiefel.tensor.Tensor;
import dev.stiefel.tensor.linalg.DMatrix;

/**
 * A Hadamard matrix of order n = 2^k·m held in Kronecker form H = H_{2^k} ⊗ B: Sylvester's matrix of order 2^k
 * (never stored) times a dense ±1 block B of order m. Entry (b·m + a, d·m + c) is
 * (−1)^popcount(b AND d) · B_ac. A 11008×11008 matrix is thus 172² bytes, and the fast transform works on the
 * factors directly.
 */
public final class HadamardMatrix {
    private final int order, powerOfTwo, blockOrder;
    private final byte[] block;
    private final String construction;

    HadamardMatrix(int powerOfTwo, int blockOrder, byte[] block, String construction) {
        if (block.length != blockOrder * blockOrder) throw new IllegalArgumentException("HadamardMatrix: block of " + block.length + " entries for order " + blockOrder);
        this.order = Math.multiplyExact(powerOfTwo, blockOrder);
        this.powerOfTwo = powerOfTwo;
        this.blockOrder = blockOrder;
        this.block = block;
        this.construction = construction;
    }

    public int order() { return order; }

    /** 2^k, the order of the Sylvester factor. */
    public int powerOfTwo() { return powerOfTwo; }

    /** m, the order of the dense block. */
    public int blockOrder() { return blockOrder; }

    /** How it was built, e.g. "Sylvester(64) ⊗ Williamson(43)". */
    public String construction() { return construction; }

    /** Entry (i, j): +1 or −1. */
    public int get(int i, int j) {
        if (i < 0 || i >= order || j < 0 || j >= order)
            throw new IndexOutOfBoundsException("(" + i + ", " + j + ") outside a Hadamard matrix of order " + order);
        int sylvester = (Integer.bitCount((i / blockOrder) & (j / blockOrder)) & 1) == 0 ? 1 : -1;
        return sylvester * block[(i % blockOrder) * blockOrder + j % blockOrder];
    }

    /** A copy of the block B, row-major. */
    public byte[] block() { return block.clone(); }

    byte[] blockView() { return block; }

    /** All n² entries, row-major (n² bytes: mind the size for large orders). */
    public byte[] dense() {
        if ((long) order * order > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("HadamardMatrix: order " + order + " is too large to hold densely");
        return powerOfTwo == 1 ? block.clone() : Hadamard.kronecker(Hadamard.sylvester(powerOfTwo), powerOfTwo, block, blockOrder);
    }

    /** The matrix as f64, scaled by {@code scale} (1/√n gives an orthogonal matrix). */
    public DMatrix toDMatrix(double scale) {
        byte[] d = dense();
        double[] v = new double[d.length];
        for (int i = 0; i < d.length; i++) v[i] = scale * d[i];
        return new DMatrix(order, order, v);
    }

    /** The matrix as an f32 tensor [n, n], scaled by {@code scale}. */
    public Tensor toTensor(float scale) {
        byte[] d = dense();
        float[] v = new float[d.length];
        for (int i = 0; i < d.length; i++) v[i] = scale * d[i];
        return Tensor.wrap(v, order, order);
    }

    @Override public String toString() { return "HadamardMatrix(" + order + " = " + construction + ")"; }
}
