package dev.stiefel.opencl;

import dev.stiefel.tensor.Shape;

import java.util.Arrays;

/**
 * Shapes and strides as the kernels take them: an int8 (int4 for batch dims) per operand, dims of size 1 dropped
 * and neighbouring dims merged wherever every operand walks them as one (stride[d] = stride[d+1]·shape[d+1]),
 * padded in front with size-1 dims.
 */
final class Views {
    private Views() {}

    /** {shape, strides of operand 0, strides of operand 1, ...}, each of length 8. */
    static int[][] collapse(int[] shape, int[]... strides) {
        int nd = shape.length, ops = strides.length;
        int[] s = new int[nd];
        int[][] st = new int[ops][nd];
        int r = 0;
        for (int d = 0; d < nd; d++) {
            if (shape[d] == 1) continue;
            boolean merge = r > 0;
            for (int o = 0; o < ops && merge; o++) merge = st[o][r - 1] == strides[o][d] * shape[d];
            if (merge) {
                s[r - 1] *= shape[d];
                for (int o = 0; o < ops; o++) st[o][r - 1] = strides[o][d];
            } else {
                s[r] = shape[d];
                for (int o = 0; o < ops; o++) st[o][r] = strides[o][d];
                r++;
            }
        }
        if (r > 8)
            throw new UnsupportedOperationException("opencl: a view of shape " + Shape.str(shape) + " has " + r
                    + " dims that cannot be merged; the kernels take up to 8");
        int[][] out = new int[ops + 1][];
        out[0] = pad8(Arrays.copyOf(s, r), 1);
        for (int o = 0; o < ops; o++) out[o + 1] = pad8(Arrays.copyOf(st[o], r), 0);
        return out;
    }

    /** {@code a} right-aligned in 8 ints, the front filled with {@code fill}. */
    static int[] pad8(int[] a, int fill) {
        int[] out = new int[8];
        Arrays.fill(out, 0, 8 - a.length, fill);
        System.arraycopy(a, 0, out, 8 - a.length, a.length);
        return out;
    }

    /** The last four of each collapsed array (int4 arguments); the front four dims must be unused. */
    static int[][] last4(int[][] collapsed, String what) {
        for (int d = 0; d < 4; d++)
            if (collapsed[0][d] != 1) throw new UnsupportedOperationException("opencl: " + what + " need more than 4 batch dims after merging");
        int[][] out = new int[collapsed.length][];
        for (int i = 0; i < collapsed.length; i++) out[i] = Arrays.copyOfRange(collapsed[i], 4, 8);
        return out;
    }
}
