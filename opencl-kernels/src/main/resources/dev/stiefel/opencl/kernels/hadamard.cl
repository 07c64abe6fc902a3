// Fast Walsh–Hadamard transform (Sylvester order) along the middle axis of a contiguous [outer, n, inner] tensor, n a
// power of two: one launch per radix-2 stage, h = 1, 2, ..., n/2, as riemann's Fwht. Tiling: one work-item per
// butterfly, the pair of rows (i0, i0 + h) of one group of 2h at one inner column; the first stage reads the input
// and writes the output, later stages work in place (each item reads and writes only its own pair). The last stage
// multiplies by the scale.
kernel void fwht_stage(global const float* src, int so, global float* dst, int n, int inner, int h, float scale, int pairs) {
    int p = get_global_id(0);
    if (p >= pairs) return;
    int half_n = n / 2;
    int j = p % inner, b = (p / inner) % half_n, o = p / (inner * half_n);
    int i0 = (b / h) * 2 * h + b % h, i1 = i0 + h;
    int base = o * n * inner + j;
    float a = src[so + base + i0 * inner], c = src[so + base + i1 * inner];
    dst[base + i0 * inner] = (a + c) * scale;
    dst[base + i1 * inner] = (a - c) * scale;
}
