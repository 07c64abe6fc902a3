// Fake quantization with the straight-through estimator (autograd's FakeQuant.quantize) for x [n, m] with one scale
// and zero point per row, as one kernel forward and one backward instead of six element-wise ops each way:
//   q = clamp(rint(x / s) + z, qmin, qmax),   y = (q - z) * s
// Every line is the f32 operation the composed op would do, in its order, so the values are the composed ops' bits.
// Tiling: forward, one work-item per element; backward, one work-group of WG items per row, item l taking elements
// l, l + WG, ... as reduce_axis does, so each row sum comes out of the same fixed tree in the same order as the sums
// the tape of the composed ops takes (one per op that reads s or z; the tape then adds them).

kernel void fake_quant(global const float* x, int xo, global const float* s, int so, global const float* z, int zo,
                       int m, float qmin, float qmax, global float* out, int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    int r = i / m;
    float sv = s[so + r], zv = z[zo + r];
    float q = jmin(jmax(rint(x[xo + i] / sv) + zv, qmin), qmax);
    out[i] = (q - zv) * sv;
}

// The composed tape, op by op from the output: y = w * s gives w the gradient g*s and s the sum of g*w; w = q - z
// gives z the sum of -(g*s); the clamp keeps d = (g*s) * [qmin <= v <= qmax] (v = rint(x/s) + z); v = r + z gives
// z the sum of d; the rounding passes d through; x / s gives x the gradient d / s and s the sum of -((d*x) / (s*s)).
kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void fake_quant_backward(global const float* x, int xo, global const float* s, int so, global const float* z, int zo,
                         global const float* g, int go, int m, float qmin, float qmax,
                         global float* dx, global float* ds, global float* dz) {
    local acc_t sums[WG];
    int r = get_group_id(0), l = get_local_id(0);
    float sv = s[so + r], zv = z[zo + r], s2 = sv * sv;
    acc_t byProduct = 0, byQuotient = 0, byDifference = 0, bySum = 0;
    for (int j = l; j < m; j += WG) {
        int i = r * m + j;
        float xv = x[xo + i], gv = g[go + i];
        float v = rint(xv / sv) + zv, q = jmin(jmax(v, qmin), qmax);
        float gs = gv * sv;
        float d = gs * ((v >= qmin ? 1.0f : 0.0f) * (v <= qmax ? 1.0f : 0.0f));
        dx[i] = d / sv;
        byProduct += gv * (q - zv);
        byQuotient += -((d * xv) / s2);
        byDifference += -gs;
        bySum += d;
    }
    byProduct = group_sum(sums, byProduct);
    byQuotient = group_sum(sums, byQuotient);
    byDifference = group_sum(sums, byDifference);
    bySum = group_sum(sums, bySum);
    if (l == 0) {
        ds[r] = (float) byProduct + (float) byQuotient;
        dz[r] = (float) byDifference + (float) bySum;
    }
}

#ifdef cl_khr_fp64
// The scale and zero point of n groups from their extremes, by quant.Quantizer.paramsFor's rule in f64 as there, so
// both are its bits: the range is widened to contain 0 and scaled by the clip ratio; symmetric s = max(-lo, hi)/qmax
// (1 for an all-zero group), z = 0; asymmetric, an all-zero range becomes [-1, 1], s = (hi - lo)/qmax at least minScale,
// z = rint(-lo/s) clamped to [0, qmax] (a -0 becomes +0, as Math.max gives); s at least minScale either way.
// Non-finite extremes give a NaN or infinite scale, which the fake-quantized values carry. One work-item per group.
kernel void range_params(global const float* hi, int ho, global const float* lo, int lo_at, int n, double ratio, int qmax,
                         int symmetric, float minScale, global float* s, global float* z) {
    int i = get_global_id(0);
    if (i >= n) return;
    float mx = hi[ho + i], mn = lo[lo_at + i];
    double l = (mn < 0 ? (double) mn : 0.0) * ratio, h = (mx > 0 ? (double) mx : 0.0) * ratio;
    float sv, zv = 0.0f;
    if (symmetric) {
        double m = -l > h ? -l : h;
        sv = m == 0 ? 1.0f : (float) (m / qmax);
    } else {
        if (l == 0 && h == 0) { l = -1; h = 1; }
        sv = (float) ((h - l) / qmax);
        sv = sv > minScale ? sv : minScale;
        double q = rint(-l / sv);
        q = q > 0 ? q : 0.0;
        zv = (float) (q < qmax ? q : (double) qmax);
    }
    s[i] = sv > minScale ? sv : minScale;
    z[i] = zv;
}
#endif

#ifdef cl_khr_fp64
// One Adam step in place (autograd's Optimizer.adam / adamW), per element in f64 as the heap's loop computes it, so the
// same bits: the moments are rounded to f32 when stored, the update is rounded to f32 and subtracted in f32.
// One work-item per element.
kernel void adam_step(global float* w, int wo, global const float* g, int go, global float* m, int mo, global float* v, int vo,
                      double beta1, double oneMinusBeta1, double beta2, double oneMinusBeta2, double c1, double c2, double eps,
                      double lr, double weightDecay, int decoupled, int n) {
    int j = get_global_id(0);
    if (j >= n) return;
    float wj = w[wo + j];
    double gj = decoupled ? (double) g[go + j] : (double) g[go + j] + weightDecay * wj;
    float mj = (float) (beta1 * m[mo + j] + oneMinusBeta1 * gj);
    float vj = (float) (beta2 * v[vo + j] + oneMinusBeta2 * gj * gj);
    m[mo + j] = mj;
    v[vo + j] = vj;
    double update = (mj / c1) / (sqrt(vj / c2) + eps);
    double decay = decoupled ? weightDecay * wj : 0.0;
    w[wo + j] = wj - (float) (lr * (update + decay));
}
#endif
