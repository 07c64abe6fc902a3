package dev.stiefel.tensor.packed;

import java.util.Random;

/**
 * Random packed matrices made with quant's rules, written out here from scratch (the tensor module cannot see quant):
 * per row and group, symmetric s = max|w| / (2^(b−1) − 1), z = 0; asymmetric s = (max − min) / (2^b − 1) over the
 * range widened to contain 0, z = round(−min / s). The fake-quantized value is (clamp(round(w/s) + z) − z)·s in f32.
 */
public final class PackedFixtures {
    private PackedFixtures() {}

    /** A quantized W with its source values and parameters. */
    public record Case(float[] w, int rows, int cols, int bits, int groupSize, boolean symmetric, float[] scales, float[] zeros, PackedMatrix packed) {
        int groupCols() { return groupSize == 0 ? Math.max(cols, 1) : groupSize; }

        /** The fake-quantized element, computed as quant.Quantizer.fakeQuant does. */
        float fake(int r, int j) {
            int g = r * packed.groups() + j / groupCols();
            int qmin = symmetric ? -(1 << (bits - 1)) : 0, qmax = symmetric ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
            float s = scales[g], z = zeros[g];
            float q = Math.min(Math.max((float) Math.rint(w[r * cols + j] / s) + z, qmin), qmax);
            return (q - z) * s;
        }

        float[] fakeMatrix() {
            float[] out = new float[rows * cols];
            for (int r = 0; r < rows; r++) for (int j = 0; j < cols; j++) out[r * cols + j] = fake(r, j);
            return out;
        }
    }

    static Case random(Random rnd, int rows, int cols, int bits, int groupSize, boolean symmetric) {
        float[] w = gaussian(rnd, rows * cols);
        // a few outliers, so groups have different ranges
        for (int i = 0; i < w.length; i += 37) w[i] *= 6;
        return fit(w, rows, cols, bits, groupSize, symmetric);
    }

    /** w [rows, cols] quantized on the min-max grid of each row and group (the rules in the class comment). */
    public static Case fit(float[] w, int rows, int cols, int bits, int groupSize, boolean symmetric) {
        int g = groupSize == 0 ? Math.max(cols, 1) : groupSize, groups = cols == 0 ? 0 : (cols + g - 1) / g;
        float[] s = new float[rows * groups], z = new float[rows * groups];
        int qmax = symmetric ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
        for (int r = 0; r < rows; r++)
            for (int gi = 0; gi < groups; gi++) {
                double lo = 0, hi = 0;
                for (int j = gi * g; j < Math.min(cols, (gi + 1) * g); j++) {
                    lo = Math.min(lo, w[r * cols + j]);
                    hi = Math.max(hi, w[r * cols + j]);
                }
                int k = r * groups + gi;
                if (symmetric) {
                    double m = Math.max(-lo, hi);
                    s[k] = m == 0 ? 1f : (float) (m / qmax);
                } else {
                    s[k] = Math.max((float) ((hi - lo) / qmax), Float.MIN_NORMAL);
                    z[k] = (float) Math.min(Math.max(Math.rint(-lo / s[k]), 0), qmax);
                }
            }
        return new Case(w, rows, cols, bits, groupSize, symmetric, s, z, PackedMatrix.quantize(w, rows, cols, bits, groupSize, symmetric, s, z));
    }

    static float[] gaussian(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) rnd.nextGaussian();
        return v;
    }
}
