package dev.stiefel.riemann.hadamard;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The fast Walsh–Hadamard transform, in place: x ← H_n x for Sylvester's H_n, n a power of two, in n·log₂n
 * additions. H_{2h} = [[H_h, H_h], [H_h, −H_h]] turns into log₂n stages of butterflies (u, v) ← (u + v, u − v)
 * between elements h apart, h = 1, 2, 4, ... (Fino &amp; Algazi, "Unified matrix treatment of the fast
 * Walsh–Hadamard transform", IEEE Trans. Computers 1976).
 *
 * <p>Stages with h ≥ the vector length pair whole vectors; the first log₂L stages (h &lt; L, the lanes of one
 * vector) pair lanes inside a vector: a lane swap (lane i with lane i XOR h) and a blend of the sum and the
 * difference. Stages with h ≥ 2L are fused two at a time (radix 4: four vectors h apart in, four out), which
 * halves the passes over the row.
 */
public final class Fwht {
    private Fwht() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final int LANE_STAGES = Integer.numberOfTrailingZeros(L);
    @SuppressWarnings("unchecked")
    private static final VectorShuffle<Float>[] SWAP = new VectorShuffle[LANE_STAGES];
    @SuppressWarnings("unchecked")
    private static final VectorMask<Float>[] UPPER = new VectorMask[LANE_STAGES];

    static {
        for (int s = 0; s < LANE_STAGES; s++) {
            int h = 1 << s;
            int[] partner = new int[L];
            boolean[] upper = new boolean[L];
            for (int i = 0; i < L; i++) { partner[i] = i ^ h; upper[i] = (i & h) != 0; }
            SWAP[s] = VectorShuffle.fromArray(S, partner, 0);
            UPPER[s] = VectorMask.fromArray(S, upper, 0);
        }
    }

    /** a[off .. off + n) ← scale · H_n a[off .. off + n), n a power of two. */
    public static void transform(float[] a, int off, int n, float scale) { transform(a, off, a, off, n, scale); }

    /**
     * dst[dstOff .. dstOff + n) ← scale · H_n src[srcOff .. srcOff + n), n a power of two; the first stages read
     * {@code src} and write {@code dst}, so no separate copy pass is needed. src is left alone unless it is dst.
     */
    public static void transform(float[] src, int srcOff, float[] dst, int dstOff, int n, float scale) {
        if (n < 1 || Integer.bitCount(n) != 1) throw new IllegalArgumentException("Fwht: length must be a power of two, got " + n);
        if (srcOff < 0 || srcOff + n > src.length)
            throw new IndexOutOfBoundsException("Fwht: [" + srcOff + ", " + (srcOff + n) + ") outside an array of " + src.length);
        if (dstOff < 0 || dstOff + n > dst.length)
            throw new IndexOutOfBoundsException("Fwht: [" + dstOff + ", " + (dstOff + n) + ") outside an array of " + dst.length);
        float[] a = dst;
        int off = dstOff;
        if (n < L) {
            if (src != dst || srcOff != dstOff) System.arraycopy(src, srcOff, dst, dstOff, n);
            scalar(a, off, n, scale);
            return;
        }
        laneStages(src, srcOff, a, off, n, n == L ? scale : 1f);
        int h = L;
        while (h < n) {
            if (4 * h <= n) {
                radix4(a, off, n, h, 8 * h > n ? scale : 1f);
                h *= 4;
            } else {
                radix2(a, off, n, h, scale);
                h *= 2;
            }
        }
    }

    /** The stages h = 1 .. L/2 on each vector of the row, in registers, from src to dst. */
    private static void laneStages(float[] src, int srcOff, float[] a, int off, int n, float scale) {
        for (int i = off, j = srcOff; i < off + n; i += L, j += L) {
            FloatVector v = FloatVector.fromArray(S, src, j);
            for (int s = 0; s < LANE_STAGES; s++) {
                FloatVector partner = v.rearrange(SWAP[s]);
                // lower lane: v + partner = u + w; upper lane: partner − v = u − w
                v = v.add(partner).blend(partner.sub(v), UPPER[s]);
            }
            if (scale != 1f) v = v.mul(scale);
            v.intoArray(a, i);
        }
    }

    /** One stage of butterflies h apart (h ≥ L). */
    private static void radix2(float[] a, int off, int n, int h, float scale) {
        for (int j = off; j < off + n; j += 2 * h)
            for (int i = j; i < j + h; i += L) {
                FloatVector u = FloatVector.fromArray(S, a, i), w = FloatVector.fromArray(S, a, i + h);
                FloatVector sum = u.add(w), diff = u.sub(w);
                if (scale != 1f) { sum = sum.mul(scale); diff = diff.mul(scale); }
                sum.intoArray(a, i);
                diff.intoArray(a, i + h);
            }
    }

    /** Stages h and 2h at once: x0..x3 are h apart; after both stages (x0+x1 ± (x2+x3), x0−x1 ± (x2−x3)). */
    private static void radix4(float[] a, int off, int n, int h, float scale) {
        for (int j = off; j < off + n; j += 4 * h)
            for (int i = j; i < j + h; i += L) {
                FloatVector x0 = FloatVector.fromArray(S, a, i), x1 = FloatVector.fromArray(S, a, i + h);
                FloatVector x2 = FloatVector.fromArray(S, a, i + 2 * h), x3 = FloatVector.fromArray(S, a, i + 3 * h);
                FloatVector s01 = x0.add(x1), d01 = x0.sub(x1), s23 = x2.add(x3), d23 = x2.sub(x3);
                FloatVector y0 = s01.add(s23), y1 = d01.add(d23), y2 = s01.sub(s23), y3 = d01.sub(d23);
                if (scale != 1f) { y0 = y0.mul(scale); y1 = y1.mul(scale); y2 = y2.mul(scale); y3 = y3.mul(scale); }
                y0.intoArray(a, i);
                y1.intoArray(a, i + h);
                y2.intoArray(a, i + 2 * h);
                y3.intoArray(a, i + 3 * h);
            }
    }

    private static void scalar(float[] a, int off, int n, float scale) {
        for (int h = 1; h < n; h *= 2)
            for (int j = off; j < off + n; j += 2 * h)
                for (int i = j; i < j + h; i++) {
                    float u = a[i], w = a[i + h];
                    a[i] = u + w;
                    a[i + h] = u - w;
                }
        if (scale != 1f) for (int i = off; i < off + n; i++) a[i] *= scale;
    }

    /**
     * H_count applied along the first axis of the [count, unit] row-major slab at {@code off}: with rows r_b,
     * the butterflies pair rows h apart, (r_b, r_{b+h}) ← (r_b + r_{b+h}, r_b − r_{b+h}). For a fixed stage the
     * rows b and b + h for all b in one group of 2h form two contiguous runs of h·unit floats, so each stage is
     * a vector loop over long runs. count is a power of two; the last stage multiplies by {@code scale}.
     */
    public static void transformRows(float[] a, int off, int count, int unit, float scale) {
        if (count < 1 || Integer.bitCount(count) != 1) throw new IllegalArgumentException("Fwht: row count must be a power of two, got " + count);
        if (unit == 1) {
            transform(a, off, count, scale);
            return;
        }
        if (count == 1) {
            if (scale != 1f) scaleRun(a, off, unit, scale);
            return;
        }
        for (int h = 1; h < count; h *= 2) {
            float s = 2 * h == count ? scale : 1f;
            int run = h * unit;
            for (int j = off; j < off + count * unit; j += 2 * run) butterflyRuns(a, j, j + run, run, s);
        }
    }

    /** (a[x..x+len), a[y..y+len)) ← (a_x + a_y, a_x − a_y) · scale, element by element. */
    private static void butterflyRuns(float[] a, int x, int y, int len, float scale) {
        int i = 0;
        for (int bound = S.loopBound(len); i < bound; i += L) {
            FloatVector u = FloatVector.fromArray(S, a, x + i), w = FloatVector.fromArray(S, a, y + i);
            FloatVector sum = u.add(w), diff = u.sub(w);
            if (scale != 1f) { sum = sum.mul(scale); diff = diff.mul(scale); }
            sum.intoArray(a, x + i);
            diff.intoArray(a, y + i);
        }
        for (; i < len; i++) {
            float u = a[x + i], w = a[y + i];
            a[x + i] = (u + w) * scale;
            a[y + i] = (u - w) * scale;
        }
    }

    private static void scaleRun(float[] a, int off, int len, float scale) {
        int i = 0;
        for (int bound = S.loopBound(len); i < bound; i += L) FloatVector.fromArray(S, a, off + i).mul(scale).intoArray(a, off + i);
        for (; i < len; i++) a[off + i] *= scale;
    }
}
