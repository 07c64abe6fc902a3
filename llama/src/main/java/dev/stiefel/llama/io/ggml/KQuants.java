package dev.stiefel.llama.io.ggml;

/**
 * The pieces the k-quant reference quantizers share (ggml-quants.c): the sub-block fits {@code make_qkx2_quants}
 * (scale and min minimising a weighted squared error over a small grid of trial scales, for Q4_K/Q5_K) and
 * {@code make_qx_quants} (symmetric scale, for Q6_K), and the 12-byte packing of eight 6-bit scales and mins. Every
 * step is f32 arithmetic in the C source's order without fused multiply-adds (what GCC compiles with
 * {@code -ffp-contract=off}; see docs/llama.md for how native builds differ).
 */
final class KQuants {
    private KQuants() {}

    static final float GROUP_MAX_EPS = 1e-15f;

    /**
     * {@code make_qkx2_quants} for x[from, from + n): fills L[lAt...] with codes 0..nmax and returns {scale, theMin}
     * where values are scale·L − theMin (theMin ≥ 0).
     */
    static float[] qkx2(int n, int nmax, float[] x, int from, float[] w, int[] L, int lAt, float rmin, float rdelta, int nstep) {
        float min = x[from], max = x[from];
        float sumW = w[0], sumX = sumW * x[from];
        for (int i = 1; i < n; i++) {
            float v = x[from + i];
            if (v < min) min = v;
            if (v > max) max = v;
            sumW += w[i];
            sumX += w[i] * v;
        }
        if (min > 0) min = 0;
        if (max == min) {
            for (int i = 0; i < n; i++) L[lAt + i] = 0;
            return new float[]{0f, -min};
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestMad = 0;
        for (int i = 0; i < n; i++) {
            int l = Math.max(0, Math.min(nmax, BlockFormats.nearestInt(iscale * (x[from + i] - min))));
            L[lAt + i] = l;
            float diff = scale * l + min - x[from + i];
            bestMad += w[i] * (diff * diff);
        }
        int[] aux = new int[n];
        for (int is = 0; is <= nstep; is++) {
            iscale = (rmin + rdelta * is + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXl = 0;
            for (int i = 0; i < n; i++) {
                int l = Math.max(0, Math.min(nmax, BlockFormats.nearestInt(iscale * (x[from + i] - min))));
                aux[i] = l;
                sumL += w[i] * l;
                sumL2 += w[i] * l * l;
                sumXl += w[i] * l * x[from + i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (det > 0) {
                float thisScale = (sumW * sumXl - sumX * sumL) / det;
                float thisMin = (sumL2 * sumX - sumL * sumXl) / det;
                if (thisMin > 0) {
                    thisMin = 0;
                    thisScale = sumXl / sumL2;
                }
                float mad = 0;
                for (int i = 0; i < n; i++) {
                    float diff = thisScale * aux[i] + thisMin - x[from + i];
                    mad += w[i] * (diff * diff);
                }
                if (mad < bestMad) {
                    System.arraycopy(aux, 0, L, lAt, n);
                    bestMad = mad;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        return new float[]{scale, -min};
    }

    /**
     * {@code make_qx_quants} with rmse_type 1 and no importance weights (weights x²): fills L[lAt...] with codes
     * 0..2·nmax−1 (value l − nmax) and returns the (signed) scale.
     */
    static float qx(int n, int nmax, float[] x, int from, int[] L, int lAt) {
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[from + i]);
            if (ax > amax) { amax = ax; max = x[from + i]; }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; i++) L[lAt + i] = 0;
            return 0f;
        }
        float iscale = -nmax / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++) {
            float v = x[from + i];
            int l = Math.max(-nmax, Math.min(nmax - 1, BlockFormats.nearestInt(iscale * v)));
            L[lAt + i] = l + nmax;
            float w = v * v;
            sumlx += w * v * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        float best = scale * sumlx;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) continue;
            iscale = -(nmax + 0.1f * is) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; i++) {
                float v = x[from + i];
                int l = Math.max(-nmax, Math.min(nmax - 1, BlockFormats.nearestInt(iscale * v)));
                float w = v * v;
                sumlx += w * v * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2) {
                for (int i = 0; i < n; i++)
                    L[lAt + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, BlockFormats.nearestInt(iscale * x[from + i])));
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /** {@code get_scale_min_k4}: sub-block j's 6-bit scale ({@code out[0]}) and min ({@code out[1]}) from the 12 bytes at b[s]. */
    static int scale(byte[] b, int s, int j) {
        return j < 4 ? b[s + j] & 63 : (b[s + j + 4] & 0xF) | ((b[s + j - 4] & 0xFF) >> 6) << 4;
    }

    static int min(byte[] b, int s, int j) {
        return j < 4 ? b[s + j + 4] & 63 : (b[s + j + 4] & 0xFF) >> 4 | ((b[s + j] & 0xFF) >> 6) << 4;
    }

    /**
     * The part of {@code quantize_row_q4_K_ref} / {@code q5_K} after the sub-block fits: eight scales and mins to
     * 6 bits against their maxima (written at b[at + 4]), d = f16(maxScale/63), dmin = f16(maxMin/63) at b[at], and
     * the codes recomputed on the stored grid, nearest_int((x + dmin·m)/(d·sc)) clamped to 0..nmax; a sub-block
     * whose d·sc is 0 keeps the codes of its fit.
     */
    static void packScalesAndRecode(float[] x, int from, float[] scales, float[] mins, int nmax, int[] L, byte[] b, int at) {
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++) {
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
        float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
        int s = at + 4;
        for (int k = 0; k < 12; k++) b[s + k] = 0;
        for (int j = 0; j < 8; j++) {
            int ls = Math.min(63, BlockFormats.nearestInt(invScale * scales[j]) & 0xFF);
            int lm = Math.min(63, BlockFormats.nearestInt(invMin * mins[j]) & 0xFF);
            if (j < 4) {
                b[s + j] = (byte) ls;
                b[s + j + 4] = (byte) lm;
            } else {
                b[s + j + 4] = (byte) ((ls & 0xF) | (lm & 0xF) << 4);
                b[s + j - 4] |= (byte) ((ls >> 4) << 6);
                b[s + j] |= (byte) ((lm >> 4) << 6);
            }
        }
        BlockFormats.putF16(b, at, maxScale / 63.f);
        BlockFormats.putF16(b, at + 2, maxMin / 63.f);
        float d = BlockFormats.f16(b, at), dmin = BlockFormats.f16(b, at + 2);
        for (int j = 0; j < 8; j++) {
            float dj = d * scale(b, s, j);
            if (dj == 0) continue;
            float dm = dmin * min(b, s, j);
            for (int ii = 0; ii < 32; ii++)
                L[32 * j + ii] = Math.max(0, Math.min(nmax, BlockFormats.nearestInt((x[from + 32 * j + ii] + dm) / dj)));
        }
    }

    /** The Q4_K/Q5_K sub-block fits of one 256-value super-block: weights av_x + |x| with av_x = √(Σx²/32). */
    static void fitSubBlocks(float[] x, int from, int nmax, float rmin, int nstep, float[] scales, float[] mins, int[] L) {
        float[] w = new float[32];
        for (int j = 0; j < 8; j++) {
            int o = from + 32 * j;
            float sumX2 = 0;
            for (int l = 0; l < 32; l++) sumX2 += x[o + l] * x[o + l];
            float avX = (float) Math.sqrt(sumX2 / 32);
            for (int l = 0; l < 32; l++) w[l] = avX + Math.abs(x[o + l]);
            float[] sm = qkx2(32, nmax, x, o, w, L, 32 * j, rmin, 0.1f, nstep);
            scales[j] = sm[0];
            mins[j] = sm[1];
        }
    }
}
