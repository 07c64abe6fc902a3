// Reductions over one axis of a contiguous tensor seen as [outer, r, inner]. Tiling: one work-group of WG items
// per output element; item l reads elements l, l+WG, ... of the axis (stride `inner` in memory), keeps a private
// partial, and the group combines the partials with a fixed tree (common.cl). Sums, means and variances
// accumulate in acc_t (f64 where the device has it); MAX/MIN propagate NaN; ARG* return the first extreme
// (NaN counts as the extreme), as the CPU backend does.

// the better of two (value, index) candidates for argmax (isMin = 0) or argmin
inline int arg_better(float v, int i, float bv, int bi, int isMin) {
    if (isnan(bv)) return isnan(v) && i < bi;
    if (isnan(v)) return 1;
    if (v == bv) return i < bi;
    return isMin ? v < bv : v > bv;
}

kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void reduce_axis(int op, global const float* x, int xo, int r, int inner, global float* out, global int* outIndex) {
    local acc_t sums[WG];
    local float vals[WG];
    local int idx[WG];
    int o = get_group_id(0), l = get_local_id(0);
    global const float* row = x + xo + (o / inner) * r * inner + o % inner;

    if (op == R_ARGMAX || op == R_ARGMIN) {
        int isMin = op == R_ARGMIN;
        float bv = NAN;
        int bi = -1;
        for (int j = l; j < r; j += WG) {
            float v = row[j * inner];
            if (bi < 0 || arg_better(v, j, bv, bi, isMin)) { bv = v; bi = j; }
        }
        vals[l] = bv;
        idx[l] = bi;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int h = WG / 2; h > 0; h >>= 1) {
            if (l < h && idx[l + h] >= 0 && (idx[l] < 0 || arg_better(vals[l + h], idx[l + h], vals[l], idx[l], isMin))) {
                vals[l] = vals[l + h];
                idx[l] = idx[l + h];
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        if (l == 0) outIndex[o] = idx[0];
        return;
    }
    if (op == R_MAX || op == R_MIN || op == R_LOGSUMEXP) {
        int isMin = op == R_MIN;
        float m = row[0];
        for (int j = l; j < r; j += WG) m = isMin ? jmin(m, row[j * inner]) : jmax(m, row[j * inner]);
        m = group_max(vals, m, isMin);
        if (op != R_LOGSUMEXP) {
            if (l == 0) out[o] = m;
            return;
        }
        acc_t s = 0;
        for (int j = l; j < r; j += WG) s += exp((acc_t) (row[j * inner] - m));
        s = group_sum(sums, s);
        if (l == 0) out[o] = isinf(m) || isnan(m) ? m : (float) (log(s) + m); // all -inf stays -inf, +inf and NaN stay
        return;
    }
    acc_t s = 0;
    for (int j = l; j < r; j += WG) s += row[j * inner];
    s = group_sum(sums, s);
    if (op == R_VAR) { // two passes: the mean, then squared deviations from it
        acc_t mean = s / r, d = 0;
        for (int j = l; j < r; j += WG) {
            acc_t e = row[j * inner] - mean;
            d += e * e;
        }
        s = group_sum(sums, d);
    }
    if (l == 0) out[o] = (float) (op == R_SUM ? s : s / r);
}

#ifdef cl_khr_fp64
// Σ x² in f64, each square exact (as the heap's (double) v * v): one f64 partial per work-group, which the host adds
// up. Tiling: `groups` work-groups of WG items; item l of group g reads elements g*WG + l, then every groups*WG
// further (coalesced), and the group's partials meet in group_sum's fixed tree. `partial` holds doubles.
kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void sum_squares_f64(global const float* x, int xo, int n, global double* partial) {
    local acc_t sums[WG];
    int stride = get_num_groups(0) * WG;
    acc_t s = 0;
    for (int j = get_global_id(0); j < n; j += stride) {
        double v = x[xo + j];
        s += v * v;
    }
    s = group_sum(sums, s);
    if (get_local_id(0) == 0) partial[get_group_id(0)] = s;
}
#endif
