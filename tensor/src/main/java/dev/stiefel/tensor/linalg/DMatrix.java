package dev.stiefel.tensor.linalg;

import dev.stiefel.tensor.Parallel;

import java.util.Random;

/**
 * A dense, row-major matrix of doubles: element (i, j) is {@code data[i * cols + j]}. The array is exposed on
 * purpose so the algorithms in {@link Linalg} can run tight loops over contiguous rows; it is never shared
 * between two matrices unless a caller wraps the same array twice with {@link #DMatrix(int, int, double[])}.
 * Operations return new matrices and leave their operands alone; {@link #set} is the only mutator.
 */
public final class DMatrix {
    public final int rows;
    public final int cols;
    public final double[] data;

    /** A zero matrix. */
    public DMatrix(int rows, int cols) {
        this(rows, cols, new double[checkedSize(rows, cols)]);
    }

    /** Wraps {@code data} (not copied) as a rows x cols row-major matrix. */
    public DMatrix(int rows, int cols, double[] data) {
        int size = checkedSize(rows, cols);
        if (data.length != size)
            throw new IllegalArgumentException("DMatrix: " + rows + "x" + cols + " needs " + size
                    + " values, got " + data.length);
        this.rows = rows;
        this.cols = cols;
        this.data = data;
    }

    private static int checkedSize(int rows, int cols) {
        if (rows < 0 || cols < 0) throw new IllegalArgumentException("DMatrix: negative size " + rows + "x" + cols);
        long size = (long) rows * cols;
        if (size > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException("DMatrix: " + rows + "x" + cols + " is too large for one array");
        return (int) size;
    }

    /** A rows x cols matrix holding {@code values} (copied) in row-major order. */
    public static DMatrix of(int rows, int cols, double... values) {
        return new DMatrix(rows, cols, values.clone());
    }

    public static DMatrix identity(int n) {
        var m = new DMatrix(n, n);
        for (int i = 0; i < n; i++) m.data[i * n + i] = 1;
        return m;
    }

    /** The square matrix with {@code d} on its diagonal. */
    public static DMatrix diagonal(double... d) {
        var m = new DMatrix(d.length, d.length);
        for (int i = 0; i < d.length; i++) m.data[i * d.length + i] = d[i];
        return m;
    }

    /** A matrix of independent standard normal entries. */
    public static DMatrix random(int rows, int cols, Random rnd) {
        var m = new DMatrix(rows, cols);
        for (int i = 0; i < m.data.length; i++) m.data[i] = rnd.nextGaussian();
        return m;
    }

    public double get(int i, int j) {
        return data[index(i, j)];
    }

    public void set(int i, int j, double v) {
        data[index(i, j)] = v;
    }

    private int index(int i, int j) {
        if (i < 0 || i >= rows || j < 0 || j >= cols)
            throw new IndexOutOfBoundsException("(" + i + ", " + j + ") outside a " + shape() + " matrix");
        return i * cols + j;
    }

    public boolean isSquare() {
        return rows == cols;
    }

    /** "rows x cols", as error messages print it. */
    public String shape() {
        return rows + "x" + cols;
    }

    public DMatrix copy() {
        return new DMatrix(rows, cols, data.clone());
    }

    /** The transpose, copied in 32 x 32 tiles so that neither the reads nor the writes stride across the whole matrix. */
    public DMatrix transpose() {
        var t = new DMatrix(cols, rows);
        final int tile = 32;
        for (int i0 = 0; i0 < rows; i0 += tile) {
            int i1 = Math.min(rows, i0 + tile);
            for (int j0 = 0; j0 < cols; j0 += tile) {
                int j1 = Math.min(cols, j0 + tile);
                for (int i = i0; i < i1; i++)
                    for (int j = j0; j < j1; j++) t.data[j * rows + i] = data[i * cols + j];
            }
        }
        return t;
    }

    /** Rows of B in one k-tile, and columns in one j-tile, of {@link #multiply}: a 128 x 256 slab of B is 256 KiB. */
    private static final int MUL_K_TILE = 128, MUL_J_TILE = 256;

    /**
     * The product {@code this * b}. Each row of the result is accumulated in i-k-j order,
     * {@code c[i][j..] += a[i][k] * b[k][j..]}, so the innermost loop runs over two contiguous rows and the JIT
     * vectorizes it; (k, j) tiles keep a slab of {@code b} in cache while all rows of a chunk stream past it.
     * Row chunks run in parallel. Every c[i][j] sums its products in ascending k, so {@code x.transpose()
     * .multiply(x)} comes out exactly symmetric.
     */
    public DMatrix multiply(DMatrix b) {
        if (cols != b.rows)
            throw new IllegalArgumentException("multiply: inner dimensions differ: " + shape() + " times " + b.shape());
        var c = new DMatrix(rows, b.cols);
        final int n = b.cols, inner = cols;
        final double[] a = data, bd = b.data, cd = c.data;
        long perRow = Math.max(1L, (long) inner * n);
        int grain = (int) Math.max(1, Linalg.MIN_PARALLEL_WORK / perRow);
        Parallel.forRange(rows, grain, (r0, r1) -> {
            for (int k0 = 0; k0 < inner; k0 += MUL_K_TILE) {
                int k1 = Math.min(inner, k0 + MUL_K_TILE);
                for (int j0 = 0; j0 < n; j0 += MUL_J_TILE) {
                    int j1 = Math.min(n, j0 + MUL_J_TILE);
                    for (int i = r0; i < r1; i++) {
                        int ci = i * n, ai = i * inner;
                        for (int k = k0; k < k1; k++) {
                            double aik = a[ai + k];
                            int bk = k * n;
                            for (int j = j0; j < j1; j++) cd[ci + j] += aik * bd[bk + j];
                        }
                    }
                }
            }
        });
        return c;
    }

    public DMatrix add(DMatrix b) {
        requireSameShape("add", b);
        var c = new DMatrix(rows, cols);
        for (int i = 0; i < data.length; i++) c.data[i] = data[i] + b.data[i];
        return c;
    }

    public DMatrix subtract(DMatrix b) {
        requireSameShape("subtract", b);
        var c = new DMatrix(rows, cols);
        for (int i = 0; i < data.length; i++) c.data[i] = data[i] - b.data[i];
        return c;
    }

    public DMatrix scale(double s) {
        var c = new DMatrix(rows, cols);
        for (int i = 0; i < data.length; i++) c.data[i] = s * data[i];
        return c;
    }

    /** (A + Aᵀ) / 2, the symmetric part of a square matrix; exactly symmetric. */
    public DMatrix symmetricPart() {
        if (!isSquare()) throw new IllegalArgumentException("symmetricPart: expected a square matrix, got " + shape());
        var s = new DMatrix(rows, cols);
        for (int i = 0; i < rows; i++) {
            s.data[i * cols + i] = data[i * cols + i];
            for (int j = i + 1; j < cols; j++) {
                double v = 0.5 * (data[i * cols + j] + data[j * cols + i]);
                s.data[i * cols + j] = v;
                s.data[j * cols + i] = v;
            }
        }
        return s;
    }

    /** max |a_ij - b_ij| over all entries (NaN if either holds a NaN). */
    public double maxAbsDiff(DMatrix b) {
        requireSameShape("maxAbsDiff", b);
        double m = 0;
        for (int i = 0; i < data.length; i++) {
            double d = Math.abs(data[i] - b.data[i]);
            if (!(d <= m)) m = d; // also lets a NaN through
        }
        return m;
    }

    /** max |a_ij| (0 for an empty matrix, NaN if any entry is NaN). */
    public double maxAbs() {
        double m = 0;
        for (double v : data) {
            double a = Math.abs(v);
            if (!(a <= m)) m = a;
        }
        return m;
    }

    private void requireSameShape(String op, DMatrix b) {
        if (rows != b.rows || cols != b.cols)
            throw new IllegalArgumentException(op + ": shapes differ: " + shape() + " and " + b.shape());
    }

    /** All entries for matrices up to 16 x 16, else just the shape. */
    @Override public String toString() {
        if (rows > 16 || cols > 16) return "DMatrix " + shape();
        var sb = new StringBuilder("DMatrix ").append(shape()).append(" [");
        for (int i = 0; i < rows; i++) {
            sb.append("\n  ");
            for (int j = 0; j < cols; j++) {
                if (j > 0) sb.append(", ");
                sb.append(String.format("%.6g", data[i * cols + j]));
            }
        }
        return sb.append("\n]").toString();
    }
}
