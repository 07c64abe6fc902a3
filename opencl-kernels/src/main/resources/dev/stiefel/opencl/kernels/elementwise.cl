// Element-wise ops and strided copies. Tiling: none needed; one work-item per output element, the output
// contiguous so neighbouring work-items write neighbouring words. Inputs are any strided view (an expanded
// operand has stride 0), addressed through strided(). Op codes come from the Java enums as -D options.

inline float sigmoidf(float x) { return 1.0f / (exp(-x) + 1.0f); }

inline float apply_unary(int op, float x, float p0, float p1) {
    switch (op) {
        case U_NEG: return -x;
        case U_EXP: return exp(x);
        case U_LOG: return log(x);
        case U_SQRT: return sqrt(x);
        case U_RSQRT: return 1.0f / sqrt(x);
        case U_TANH: return tanh(x);
        case U_SIGMOID: return sigmoidf(x);
        case U_SILU: return x / (exp(-x) + 1.0f);
        case U_ABS: return fabs(x);
        case U_SQUARE: return x * x;
        case U_RECIPROCAL: return 1.0f / x;
        case U_ROUND: return rint(x); // half to even, as Math.rint
        case U_ADD_SCALAR: return x + p0;
        case U_MUL_SCALAR: return x * p0;
        case U_DIV_SCALAR: return x / p0;
        case U_POW_SCALAR: return p0 == 2.0f ? x * x : pow(x, p0);
        case U_CLAMP: return jmin(jmax(x, p0), p1);
    }
    return NAN;
}

inline float apply_binary(int op, float a, float b) {
    switch (op) {
        case B_ADD: return a + b;
        case B_SUB: return a - b;
        case B_MUL: return a * b;
        case B_DIV: return a / b;
        case B_POW: return pow(a, b);
        case B_MAX: return jmax(a, b);
        case B_MIN: return jmin(a, b);
        case B_GT: return a > b ? 1.0f : 0.0f;
        case B_GE: return a >= b ? 1.0f : 0.0f;
        case B_LT: return a < b ? 1.0f : 0.0f;
        case B_LE: return a <= b ? 1.0f : 0.0f;
        case B_EQ: return a == b ? 1.0f : 0.0f;
    }
    return NAN;
}

kernel void unary_op(int op, float p0, float p1, global const float* x, int xo, int8 shape, int8 xs,
                     global float* out, int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    out[i] = apply_unary(op, x[xo + strided(i, shape, xs)], p0, p1);
}

kernel void binary_op(int op, global const float* a, int ao, int8 as, global const float* b, int bo, int8 bs,
                      int8 shape, global float* out, int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    out[i] = apply_binary(op, a[ao + strided(i, shape, as)], b[bo + strided(i, shape, bs)]);
}

// 32-bit words, so the one kernel copies f32 and i32 views.
kernel void copy_strided(global const uint* src, int so, int8 shape, int8 ss, global uint* dst, int dof, int8 ds, int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    dst[dof + strided(i, shape, ds)] = src[so + strided(i, shape, ss)];
}

// SwiGLU (Shazeer 2020): silu(gate) * up, and its gradients; contiguous operands, one work-item per element.
kernel void swiglu(global const float* gate, int go, global const float* up, int uo, global float* out, int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    float a = gate[go + i];
    out[i] = a / (exp(-a) + 1.0f) * up[uo + i];
}

// dGate = g*u * ((1 - s)*a + 1)*s with s = sigmoid(a), dUp = g * (a*s); without up (silu alone) dGate = g * (...).
kernel void swiglu_backward(global const float* gate, int go, global const float* up, int uo, int hasUp,
                            global const float* g, int gro, global float* dGate, global float* dUp, int n) {
    int i = get_global_id(0);
    if (i >= n) return;
    float a = gate[go + i], s = sigmoidf(a), gv = g[gro + i];
    float d = ((1.0f - s) * a + 1.0f) * s;
    if (hasUp) {
        dGate[i] = gv * up[uo + i] * d;
        dUp[i] = gv * (a * s);
    } else {
        dGate[i] = gv * d;
    }
}

kernel void fill(global float* out, float value, int n) {
    int i = get_global_id(0);
    if (i < n) out[i] = value;
}
