// Rotary position embedding (Su et al. 2021, RoFormer eq. 34) of a contiguous x [rows = (.., t, h), D]. Tiling:
// one work-item per rotated pair; cos/sin come from host-computed f64 tables [T, D/2] (rounded once, the same
// tables the CPU backend uses), so the device does no trigonometry.
kernel void rope(global const float* x, int xo, int d, int heads, int tokens, global const float* cosT,
                 global const float* sinT, int interleaved, global float* out, int pairs) {
    int p = get_global_id(0);
    if (p >= pairs) return;
    int pairsPerRow = d / 2, row = p / pairsPerRow, f = p % pairsPerRow, t = (row / heads) % tokens;
    float c = cosT[t * pairsPerRow + f], s = sinT[t * pairsPerRow + f];
    int i0 = row * d + (interleaved ? 2 * f : f), i1 = interleaved ? i0 + 1 : i0 + pairsPerRow;
    float a = x[xo + i0], b = x[xo + i1];
    out[i0] = a * c - b * s;
    out[i1] = b * c + a * s;
}
