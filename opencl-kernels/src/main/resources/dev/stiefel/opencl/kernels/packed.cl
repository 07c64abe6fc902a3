// Packed low-bit weights on the device: the tensor module's PackedMatrix as three buffers. W [rows, cols] is b-bit
// codes c (b = 2, 3, 4, 8) in blocks of 32 columns (4·b bytes a block; a row is whole blocks, the last one padded), an
// f32 scale per row and group of columns, and for an asymmetric grid a zero point in code units per row and group (one
// byte); a symmetric grid's zero point is 2^(b-1) and not stored. An element's value is (c - z)·s in f32, which is
// the fake quantizer's (q - z)·s bit for bit, so a product over these values is the fake-quantized model's up to the
// order of the sums.
//
// The layout, as one int8: s0 rows, s1 cols, s2 bits, s3 blocks per group (a group is whole blocks), s4 groups per
// row, s5 bytes per row, s6 1 for a symmetric grid.

// Code of element e (0..31) of the block at blk: PackedMatrix's bit placement (even elements in the low half of
// each 64-bit word, odd ones in the high half), little-endian bytes.
inline int packed_code(global const uchar* blk, int bits, int e) {
    int bit;
    switch (bits) {
        case 8:
            return blk[e];
        case 4:
            bit = 64 * (e / 16) + 32 * (e % 2) + 4 * ((e % 16) / 2);
            return (blk[bit >> 3] >> (bit & 7)) & 15;
        case 2:
            bit = 32 * (e % 2) + 2 * (e / 2);
            return (blk[bit >> 3] >> (bit & 7)) & 3;
        default: // 3: the low two bits as for b = 2, the third as bit e of the 32-bit word at byte 8
            bit = 32 * (e % 2) + 2 * (e / 2);
            return ((blk[bit >> 3] >> (bit & 7)) & 3) | ((blk[8 + (e >> 3)] >> (e & 7)) & 1) << 2;
    }
}

// Zero point (code units) of row r, group g.
inline int packed_zero(global const uchar* zeros, int8 p, int r, int g) {
    return p.s6 ? 1 << (p.s2 - 1) : zeros[r * p.s4 + g];
}

// W widened to f32, row-major [rows, cols] at out: one work-item per element. For the ops that want f32 values of a
// packed weight (a prompt's product through sgemm, a copy to the host).
kernel void packed_dequant(global const uchar* codes, global const float* scales, global const uchar* zeros, int8 p,
                           global float* out, int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    int r = i / p.s1, j = i - r * p.s1, b = j / 32, g = b / p.s3;
    int c = packed_code(codes + (long) r * p.s5 + b * 4 * p.s2, p.s2, j % 32);
    out[i] = (float) (c - packed_zero(zeros, p, r, g)) * scales[r * p.s4 + g];
}

// out[t, r] = sum_j x[t, j]·W[r, j] (x·W^T, a linear layer on a few tokens: decode). Tiling: one work-group of WG items
// per (output channel r, token t); item l takes blocks l, l + WG, ... of the row, so neighbouring items read
// neighbouring blocks of codes; each element is widened to its f32 value (c - z)·s and accumulated with fma, as the
// f32 gemv does; partials meet in a fixed tree.
kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void packed_gemv(global const uchar* codes, global const float* scales, global const uchar* zeros, int8 p,
                 global const float* x, int xo, int xrs, int xcs, global float* out, int oo, int ors) {
    local float part[WG];
    int r = get_group_id(0), t = get_global_id(1), l = get_local_id(0);
    int cols = p.s1, bits = p.s2, blocks = (cols + 31) / 32;
    global const uchar* row = codes + (long) r * p.s5;
    global const float* xt = x + xo + t * xrs;
    float s = 0.0f;
    for (int b = l; b < blocks; b += WG) {
        int g = b / p.s3, z = packed_zero(zeros, p, r, g), n = min(32, cols - b * 32);
        float scale = scales[r * p.s4 + g];
        global const uchar* blk = row + b * 4 * bits;
        for (int e = 0; e < n; e++) s = fma(xt[(b * 32 + e) * xcs], (float) (packed_code(blk, bits, e) - z) * scale, s);
    }
    part[l] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = WG / 2; h > 0; h >>= 1) {
        if (l < h) part[l] += part[l + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) out[oo + t * ors + r] = part[0];
}
