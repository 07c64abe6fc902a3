// Shared by every kernel file (the backend compiles them as one program, this file first).
//
// Results must not depend on the compiler's whim: no contraction of a*b+c into fma unless a kernel asks for fma()
// itself (the CPU kernels round each product), and the program is built without -cl-fast-relaxed-math and, where
// the device can, with -cl-fp32-correctly-rounded-divide-sqrt (quantizers depend on exact x / s).
#pragma OPENCL FP_CONTRACT OFF

// Sums that feed a loss or a norm accumulate in f64 where the device has it, as the CPU backend does.
#ifdef cl_khr_fp64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double acc_t;
#else
typedef float acc_t;
#endif

// Work-items per work-group of the row kernels (one work-group per row; each item strides the row by WG).
#define WG 64

// Storage offset of element i (row-major over shape) of a view with these strides. Views have rank <= 8 after the
// host merges dims that are contiguous in every operand; unused leading dims have size 1.
#define DIGIT(c) { int q = i / shape.c; at += (i - q * shape.c) * stride.c; i = q; }
inline int strided(int i, int8 shape, int8 stride) {
    int at = 0;
    DIGIT(s7) DIGIT(s6) DIGIT(s5) DIGIT(s4) DIGIT(s3) DIGIT(s2) DIGIT(s1) DIGIT(s0)
    return at;
}
inline int strided4(int i, int4 shape, int4 stride) {
    int at = 0;
    DIGIT(s3) DIGIT(s2) DIGIT(s1) DIGIT(s0)
    return at;
}

// Java's Math.max/min: NaN if either operand is NaN (fmax/fmin would drop it).
inline float jmax(float a, float b) { return isnan(a) || isnan(b) ? a + b : fmax(a, b); }
inline float jmin(float a, float b) { return isnan(a) || isnan(b) ? a + b : fmin(a, b); }

// Work-group reductions over local memory, a fixed halving tree: the same inputs give the same bits every run.
inline acc_t group_sum(local acc_t* s, acc_t v) {
    int l = get_local_id(0);
    s[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = WG / 2; h > 0; h >>= 1) {
        if (l < h) s[l] += s[l + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    acc_t r = s[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

inline float group_max(local float* s, float v, int isMin) {
    int l = get_local_id(0);
    s[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = WG / 2; h > 0; h >>= 1) {
        if (l < h) s[l] = isMin ? jmin(s[l], s[l + h]) : jmax(s[l], s[l + h]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = s[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}
