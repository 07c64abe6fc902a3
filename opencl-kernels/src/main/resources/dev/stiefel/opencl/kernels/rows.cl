// Row-wise kernels: softmax / log-softmax and its gradient, RMSNorm and its gradients, attention's scaled and
// masked softmax. Tiling: one work-group of WG items per row (a row is the reduced axis of a contiguous
// [outer, n, inner] tensor, element j at j*inner); items stride the row by WG, partial sums meet in a fixed tree.
// Every item writes back exactly the elements it read, so no barrier is needed between the passes of a row.

inline int row_base(int o, int n, int inner) { return (o / inner) * n * inner + o % inner; }

// softmax: exp(x - max) / sum, the sum in acc_t; log-softmax: x - (max + log sum), the shift taken in acc_t
kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void softmax_rows(global const float* x, int xo, int n, int inner, int logSoftmax, global float* out) {
    local acc_t sums[WG];
    local float vals[WG];
    int l = get_local_id(0), base = row_base(get_group_id(0), n, inner);
    global const float* row = x + xo + base;
    global float* o = out + base;
    float m = -INFINITY;
    for (int j = l; j < n; j += WG) m = jmax(m, row[j * inner]);
    m = group_max(vals, m, 0);
    acc_t s = 0;
    for (int j = l; j < n; j += WG) {
        float e = exp(row[j * inner] - m);
        if (!logSoftmax) o[j * inner] = e;
        s += e;
    }
    s = group_sum(sums, s);
    if (logSoftmax) {
        float shift = (float) -(m + log(s));
        for (int j = l; j < n; j += WG) o[j * inner] = row[j * inner] + shift;
    } else {
        float d = (float) s;
        for (int j = l; j < n; j += WG) o[j * inner] = o[j * inner] / d;
    }
}

// dx = scale * (g - sum(g*y)) * y along the row (softmax's gradient from its output y)
kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void softmax_backward_rows(global const float* y, int yo, global const float* g, int go, int n, int inner, float scale,
                           global float* out) {
    local acc_t sums[WG];
    int l = get_local_id(0), base = row_base(get_group_id(0), n, inner);
    global const float* yr = y + yo + base;
    global const float* gr = g + go + base;
    acc_t s = 0;
    for (int j = l; j < n; j += WG) s += (acc_t) gr[j * inner] * yr[j * inner];
    float gy = (float) group_sum(sums, s);
    for (int j = l; j < n; j += WG) out[base + j * inner] = (gr[j * inner] - gy) * yr[j * inner] * scale;
}

// RMSNorm (Zhang & Sennrich 2019, eq. 4): y = w * (x * r), r = 1 / sqrt(mean(x^2) + eps)
kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void rmsnorm_rows(global const float* x, int xo, global const float* w, int wo, int n, float eps, global float* out) {
    local acc_t sums[WG];
    int l = get_local_id(0), base = get_group_id(0) * n;
    global const float* row = x + xo + base;
    acc_t s = 0;
    for (int j = l; j < n; j += WG) s += (acc_t) row[j] * row[j];
    s = group_sum(sums, s);
    float r = (float) (1.0 / sqrt(s / n + eps));
    for (int j = l; j < n; j += WG) out[base + j] = w[wo + j] * (row[j] * r);
}

// dx = r*(g*w) - x*c with c = r^3 * mean(g*w*x); the weight gradient's row terms g*x*r go to dwRows [rows, n],
// summed over rows in order by column_sums
kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void rmsnorm_backward_rows(global const float* x, int xo, global const float* w, int wo, global const float* g, int go,
                           int n, float eps, global float* dx, global float* dwRows) {
    local acc_t sums[WG];
    int l = get_local_id(0), base = get_group_id(0) * n;
    global const float* xr = x + xo + base;
    global const float* gr = g + go + base;
    acc_t ss = 0, gwx = 0;
    for (int j = l; j < n; j += WG) {
        ss += (acc_t) xr[j] * xr[j];
        gwx += (acc_t) (gr[j] * w[wo + j]) * xr[j];
    }
    ss = group_sum(sums, ss);
    gwx = group_sum(sums, gwx);
    acc_t r = 1.0 / sqrt(ss / n + eps);
    float rf = (float) r, c = (float) (r * r * r * gwx / n);
    for (int j = l; j < n; j += WG) {
        dx[base + j] = gr[j] * w[wo + j] * rf - xr[j] * c;
        dwRows[base + j] = gr[j] * xr[j] * rf;
    }
}

// out[j] = sum over rows of src[row, j], rows added in order (one work-item per column: deterministic)
kernel void column_sums(global const float* src, int rows, int n, global float* out) {
    int j = get_global_id(0);
    if (j >= n) return;
    acc_t s = 0;
    for (int i = 0; i < rows; i++) s += src[i * n + j];
    out[j] = (float) s;
}

// Attention probabilities in place: s = softmax(scale * s + mask) over each row of Tk scores; the mask row is the
// row's query index (row % tq); hasMask = 0 for none
kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void attention_softmax_rows(global float* s, int n, int tq, global const float* mask, int mo, int hasMask, float scale) {
    local acc_t sums[WG];
    local float vals[WG];
    int l = get_local_id(0), o = get_group_id(0);
    global float* row = s + o * n;
    global const float* mrow = mask + mo + (o % tq) * n;
    float m = -INFINITY;
    for (int j = l; j < n; j += WG) {
        float v = scale * row[j];
        if (hasMask) v = v + mrow[j];
        row[j] = v;
        m = jmax(m, v);
    }
    m = group_max(vals, m, 0);
    acc_t sum = 0;
    for (int j = l; j < n; j += WG) {
        float e = exp(row[j] - m);
        row[j] = e;
        sum += e;
    }
    float d = (float) group_sum(sums, sum);
    for (int j = l; j < n; j += WG) row[j] = row[j] / d;
}
