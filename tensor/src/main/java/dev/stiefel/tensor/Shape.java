package dev.stiefel.tensor;

import java.util.Arrays;

/** Static helpers on shapes ({@code int[]}): sizes, strides, broadcasting, axes, and the error messages. */
public final class Shape {
    private Shape() {}

    /** Number of elements; rejects negative sizes and tensors past 2^31-1 elements. */
    public static long numel(int... shape) {
        long n = 1;
        for (int s : shape) {
            if (s < 0) throw new IllegalArgumentException("negative size " + s + " in shape " + str(shape));
            n *= s;
        }
        if (n > Integer.MAX_VALUE)
            throw new IllegalArgumentException("shape " + str(shape) + " has " + n + " elements; at most 2^31-1 are supported");
        return n;
    }

    /** Row-major strides of a contiguous tensor. */
    public static int[] contiguousStrides(int... shape) {
        int[] st = new int[shape.length];
        int s = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            st[d] = s;
            s *= Math.max(shape[d], 1);
        }
        return st;
    }

    public static String str(int... shape) { return Arrays.toString(shape); }

    /** NumPy broadcasting: trailing dimensions must match or be 1. */
    public static int[] broadcast(String op, int[] a, int[] b) {
        int n = Math.max(a.length, b.length);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            int da = i < n - a.length ? 1 : a[i - (n - a.length)];
            int db = i < n - b.length ? 1 : b[i - (n - b.length)];
            if (da != db && da != 1 && db != 1)
                throw new IllegalArgumentException(op + ": shapes " + str(a) + " and " + str(b) + " cannot be broadcast together"
                        + " (dimension " + i + ": " + da + " vs " + db + ")");
            out[i] = da == 1 ? db : da;
        }
        return out;
    }

    /** Normalizes a possibly negative axis (-1 is the last) or throws naming the shape. */
    public static int axis(String op, int axis, int[] shape) {
        int nd = shape.length;
        int a = axis < 0 ? axis + nd : axis;
        if (a < 0 || a >= nd)
            throw new IllegalArgumentException(op + ": axis " + axis + " is out of range for shape " + str(shape) + " (" + nd + " dims)");
        return a;
    }

    public static int[] without(int[] shape, int axis) {
        int[] out = new int[shape.length - 1];
        for (int i = 0, j = 0; i < shape.length; i++) if (i != axis) out[j++] = shape[i];
        return out;
    }

    public static int[] with(int[] shape, int axis, int size) {
        int[] out = shape.clone();
        out[axis] = size;
        return out;
    }

    public static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** Product of the sizes in [from, to). */
    public static int prod(int[] shape, int from, int to) {
        int p = 1;
        for (int i = from; i < to; i++) p *= shape[i];
        return p;
    }
}
