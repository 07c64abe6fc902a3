// Indexing: index-select, gather, the scatter of one element per line, and top-k. Tiling: one work-item per output element (top-k: per row).
// Elements move as 32-bit words, so f32 and i32 tensors share the kernels.

// x contiguous [outer, len, inner] -> out [outer, k, inner] with out[., i, .] = x[., indices[i], .]
kernel void index_select(global const uint* x, int xo, int len, int inner, global const int* indices, int k,
                         global uint* out, int n) {
    int e = get_global_id(0);
    if (e >= n) return;
    int in = e % inner, i = (e / inner) % k, o = e / (inner * k);
    out[e] = x[xo + (o * len + indices[i]) * inner + in];
}

// torch.gather: out[e] = x[coordinates of e in the index's shape, with the axis coordinate replaced by index[e]]
kernel void gather(global const uint* x, int xo, int8 xstride, global const int* index, int8 shape, int axis,
                   global uint* out, int n) {
    int e = get_global_id(0);
    if (e >= n) return;
    int c[8];
    vstore8(shape, 0, c);
    int rest = e, at = 0;
    int s[8];
    vstore8(xstride, 0, s);
    for (int dd = 7; dd >= 0; dd--) {
        int q = rest / c[dd], coord = rest - q * c[dd];
        at += (dd == axis ? index[e] : coord) * s[dd];
        rest = q;
    }
    out[e] = x[xo + at];
}

// The adjoint of gathering one element of every line along an axis (max/min's gradient): out [outer, n, inner] holds
// src [outer, 1, inner] at the line's index along n and +0 elsewhere. 0.0f + src is what the heap loop adds onto its
// zeros (it turns -0 into +0; FP_CONTRACT is off and fast math is not asked for, so it is not folded away). One
// work-item per output element.
kernel void scatter_lines(global const int* index, int io, global const float* src, int so, int n, int inner,
                          global float* out, int total) {
    int i = get_global_id(0);
    if (i >= total) return;
    int line = (i / (inner * n)) * inner + i % inner, position = (i / inner) % n;
    out[i] = index[io + line] == position ? 0.0f + src[so + line] : 0.0f;
}

// The adjoint of a gather of k elements a line (KL-Top's gradient through the teacher's top-k classes): out [outer, n,
// inner], zeroed first, gets src [outer, k, inner] added at index [outer, k, inner] along n. One work-item per line,
// adding its k elements in order as the heap loop does, so the same sums (an index used twice gets both, in order);
// lines write disjoint elements.
kernel void scatter_add_lines(global const int* index, int io, global const float* src, int so, int k, int n, int inner,
                              global float* out, int lines) {
    int line = get_global_id(0);
    if (line >= lines) return;
    int o = line / inner, i = line % inner;
    global float* dst = out + o * n * inner + i;
    for (int j = 0; j < k; j++) {
        int at = (o * k + j) * inner + i;
        dst[index[io + at] * inner] += src[so + at];
    }
}

// the order of the CPU backend's keys: larger floats first (NaN above +inf), ties by lower index
inline int topk_before(float a, int ia, float b, int ib) {
    int x = as_int(a), y = as_int(b);
    int ox = x >= 0 ? x : x ^ 0x7FFFFFFF, oy = y >= 0 ? y : y ^ 0x7FFFFFFF;
    return ox != oy ? ox > oy : ia < ib;
}

// One work-item per row of n: insertion into the sorted top k kept in the output row (O(n k), fine for the k of
// sampling and outlier selection).
kernel void topk_rows(global const float* x, int xo, int n, int k, int rows, global float* values, global int* indices) {
    int row = get_global_id(0);
    if (row >= rows) return;
    global const float* xr = x + xo + row * n;
    global float* v = values + row * k;
    global int* id = indices + row * k;
    int filled = 0;
    for (int i = 0; i < n; i++) {
        float xi = xr[i];
        if (filled == k && !topk_before(xi, i, v[k - 1], id[k - 1])) continue;
        int at = filled < k ? filled++ : k - 1;
        while (at > 0 && topk_before(xi, i, v[at - 1], id[at - 1])) {
            v[at] = v[at - 1];
            id[at] = id[at - 1];
            at--;
        }
        v[at] = xi;
        id[at] = i;
    }
}
