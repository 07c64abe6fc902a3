// Matrix products C = alpha * A.B over batches. A [M, K] and B [K, N] are read through (row, column) strides, so
// a transposed operand is only a stride swap and nothing is copied; the batch index picks each operand's matrix
// through up to four broadcast batch dims (stride 0 where an operand is shared). C has column stride 1.

// sgemm tiling: a work-group of RTS x RTS items computes a TS x TS tile of C; item (tx, ty) holds a WPT x WPT
// register block, rows ty + i*RTS and columns tx + j*RTS (strided so neighbouring items touch neighbouring
// columns). K advances TK at a time: the group stages an A tile [TS x TK] and a B tile [TK x TS] in local memory
// (each item loads TS*TK/(RTS*RTS) of each; out-of-range elements load as 0, so any M, N, K works), then every
// item does TK rank-1 updates of its block from registers. TS, TK and WPT are -D options (defaults 64, 16, 4).
// Loads follow the operand's contiguous axis, so neighbouring items read neighbouring addresses (one coalesced
// access per warp) whether an operand is row-major or transposed (a linear layer's x.W^T reads W along k). A tile
// row is TS + 1 floats: items storing along k then hit TK different local-memory banks, not one.
#ifndef TS
#define TS 64
#endif
#ifndef TK
#define TK 16
#endif
#ifndef WPT
#define WPT 4
#endif
#define RTS (TS / WPT)
#define LOADS (TS * TK / (RTS * RTS))

kernel __attribute__((reqd_work_group_size(RTS, RTS, 1)))
void sgemm(int M, int N, int K,
           global const float* A, int ao, int ars, int acs,
           global const float* B, int bo, int brs, int bcs,
           global float* C, int co, int crs, float alpha,
           int4 batchShape, int4 abs, int4 bbs, int4 cbs) {
    local float As[TK][TS + 1];
    local float Bs[TK][TS + 1];
    int tx = get_local_id(0), ty = get_local_id(1), t = ty * RTS + tx;
    int col0 = get_group_id(0) * TS, row0 = get_group_id(1) * TS, batch = get_group_id(2);
    A += ao + strided4(batch, batchShape, abs);
    B += bo + strided4(batch, batchShape, bbs);
    C += co + strided4(batch, batchShape, cbs);

    float acc[WPT][WPT];
    for (int i = 0; i < WPT; i++)
        for (int j = 0; j < WPT; j++) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += TK) {
        for (int l = 0; l < LOADS; l++) {
            int e = t + l * RTS * RTS;
            int ar = acs == 1 ? e / TK : e % TS, ak = acs == 1 ? e % TK : e / TS;  // A: k fastest when its rows are contiguous
            int gr = row0 + ar, gk = k0 + ak;
            As[ak][ar] = gr < M && gk < K ? A[gr * ars + gk * acs] : 0.0f;
            int bk = bcs == 1 ? e / TS : e % TK, bc = bcs == 1 ? e % TS : e / TK;  // B: columns fastest when they are contiguous
            int hk = k0 + bk, hc = col0 + bc;
            Bs[bk][bc] = hk < K && hc < N ? B[hk * brs + hc * bcs] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int k = 0; k < TK; k++) {
            float a[WPT], b[WPT];
            for (int i = 0; i < WPT; i++) a[i] = As[k][ty + i * RTS];
            for (int j = 0; j < WPT; j++) b[j] = Bs[k][tx + j * RTS];
            for (int i = 0; i < WPT; i++)
                for (int j = 0; j < WPT; j++) acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int i = 0; i < WPT; i++) {
        int r = row0 + ty + i * RTS;
        if (r >= M) continue;
        for (int j = 0; j < WPT; j++) {
            int c = col0 + tx + j * RTS;
            if (c < N) C[r * crs + c] = alpha == 1.0f ? acc[i][j] : alpha * acc[i][j];
        }
    }
}

// gemv: y[i] = sum_k x[k] * W[i, k] for one vector (a product with M = 1 or N = 1). Tiling: one work-group of WG
// items per output; items stride k by WG (coalesced when W's rows are contiguous, the x.W^T of a decode step),
// partials meet in a fixed tree. Accumulates in f32 with fma, as the CPU's Sgemv.
kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void gemv(int K, global const float* x, int xo, int xs, global const float* W, int wo, int wrs, int wcs,
          global float* y, int yo, int ys) {
    local float part[WG];
    int i = get_group_id(0), l = get_local_id(0);
    global const float* w = W + wo + i * wrs;
    float s = 0.0f;
    for (int k = l; k < K; k += WG) s = fma(x[xo + k * xs], w[k * wcs], s);
    part[l] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = WG / 2; h > 0; h >>= 1) {
        if (l < h) part[l] += part[l + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) y[yo + i * ys] = part[0];
}

// Grouped-query attention's key/value gradients: out [lead, Tk, G, D] = sum over the rep query heads of group g of
// perHead [lead, G, rep, Tk, D], heads added in order. One work-item per output element.
kernel void sum_head_groups(global const float* perHead, int rep, int tk, int groups, int d, global float* out, int n) {
    int e = get_global_id(0);
    if (e >= n) return;
    int dd = e % d, g = (e / d) % groups, t = (e / (d * groups)) % tk, b = e / (d * groups * tk);
    global const float* src = perHead + (((b * groups + g) * rep) * tk + t) * d + dd;
    float s = 0.0f;
    for (int r = 0; r < rep; r++) s += src[r * tk * d];
    out[e] = s;
}
