#!/usr/bin/env python3
"""OpenBLAS baseline for the Stiefel matmul/matvec benchmarks (docs/BENCHMARKS.md, "Matmul and matvec").

Measures, through numpy's OpenBLAS:
  * sgemm: f32 C = A @ B for square n (default 2048), with 1 and 2 threads, best-of-N and median GFLOP/s;
  * sgemm of a LLaMA-7B FFN projection, Y = X @ W.T with X [512, 4096] and W [11008, 4096] (the shape and
    layout of MatmulBench's ffn512x4096x11008), GFLOP/s;
  * sgemv: f32 y = W @ x over a 1 GiB matrix (16384 x 16384), GB/s = matrix bytes / time.

OpenBLAS fixes its thread count and its kernel set when the library loads, so every setting runs in a child
process with OPENBLAS_NUM_THREADS (and OMP_NUM_THREADS) set. The kernel set matters as much as the threads:
a DYNAMIC_ARCH build picks its kernels from the CPU unless OPENBLAS_CORETYPE names them, and an environment
that sets OPENBLAS_CORETYPE=Haswell (as this project's machines do) runs the AVX2 kernels on an AVX-512 CPU.
So each setting runs twice: "inherited" keeps this process's environment as it is, "auto" removes
OPENBLAS_CORETYPE so that OpenBLAS detects the CPU. The kernel set actually used (openblas_get_corename) is
printed beside each figure.

    python3 bench/scripts/openblas_baseline.py [--n 2048] [--reps 15] [--gemv-rows 16384] [--threads 1 2]
                                               [--coretypes inherited auto] [--no-ffn]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r'''
import ctypes, glob, json, os, sys, time
import numpy as np
kind, size, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
core = "?"
libdir = os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs")
for lib in glob.glob(os.path.join(libdir, "*openblas*")):
    handle = ctypes.CDLL(lib)   # the library numpy already loaded
    for name in ("scipy_openblas_get_corename64_", "openblas_get_corename64_", "openblas_get_corename"):
        if hasattr(handle, name):
            fn = getattr(handle, name)
            fn.restype = ctypes.c_char_p
            core = fn().decode()
            break
rng = np.random.default_rng(42)
times = []
if kind == "gemm":
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    c = np.empty((size, size), dtype=np.float32)
    for _ in range(3):
        np.matmul(a, b, out=c)
    for _ in range(reps):
        t = time.perf_counter(); np.matmul(a, b, out=c); times.append(time.perf_counter() - t)
    work = 2.0 * size ** 3
elif kind == "ffn":
    m, k, n = 512, 4096, 11008
    x = rng.standard_normal((m, k), dtype=np.float32)
    w = rng.standard_normal((n, k), dtype=np.float32)
    c = np.empty((m, n), dtype=np.float32)
    for _ in range(2):
        np.matmul(x, w.T, out=c)
    for _ in range(reps):
        t = time.perf_counter(); np.matmul(x, w.T, out=c); times.append(time.perf_counter() - t)
    work = 2.0 * m * k * n
else:
    w = rng.standard_normal((size, size), dtype=np.float32)
    x = rng.standard_normal(size, dtype=np.float32)
    y = np.empty(size, dtype=np.float32)
    for _ in range(3):
        np.matmul(w, x, out=y)
    for _ in range(reps):
        t = time.perf_counter(); np.matmul(w, x, out=y); times.append(time.perf_counter() - t)
    work = 4.0 * size * size  # bytes of the matrix
print(json.dumps({"times": times, "work": work, "core": core}))
'''


def run(kind, size, reps, threads, coretype):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    if coretype == "auto":
        env.pop("OPENBLAS_CORETYPE", None)
    elif coretype != "inherited":
        env["OPENBLAS_CORETYPE"] = coretype
    out = subprocess.run([sys.executable, "-c", CHILD, kind, str(size), str(reps)], env=env,
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    rates = [r["work"] / t / 1e9 for t in r["times"]]
    return max(rates), statistics.median(rates), statistics.median(r["times"]), r["core"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2048, help="square sgemm size")
    ap.add_argument("--reps", type=int, default=15, help="timed repetitions per setting")
    ap.add_argument("--gemv-rows", type=int, default=16384, help="sgemv matrix is rows x rows f32 (16384: 1 GiB)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-ffn", action="store_true", help="skip the 512x4096x11008 X @ W.T product")
    ap.add_argument("--coretypes", nargs="+", default=["inherited", "auto"],
                    help="'inherited' (environment as is), 'auto' (OPENBLAS_CORETYPE removed) or a core name")
    args = ap.parse_args()

    import numpy as np
    cfg = np.__config__.CONFIG["Build Dependencies"]["blas"]
    print(f"numpy {np.__version__}, BLAS {cfg.get('name')} {cfg.get('version')}; "
          f"environment OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '<unset>')} "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '<unset>')}")
    print(f"{'kernel':<24}{'coretype':>11}{'(used)':>10}{'threads':>8}{'best':>9}{'median':>9}{'median time':>14}")
    gib = 4.0 * args.gemv_rows ** 2 / 2 ** 30
    kinds = [("gemm", args.n, "sgemm %d^3 GFLOP/s" % args.n)]
    if not args.no_ffn:
        kinds.append(("ffn", 0, "X.W^T 512x4096x11008"))
    kinds.append(("gemv", args.gemv_rows, "sgemv %.3g GiB GB/s" % gib))
    for kind, size, label in kinds:
        for ct in args.coretypes:
            for t in args.threads:
                best, med, tm, core = run(kind, size, args.reps, t, ct)
                print(f"{label:<24}{ct:>11}{core:>10}{t:>8}{best:>9.1f}{med:>9.1f}{tm * 1e3:>12.2f}ms")


if __name__ == "__main__":
    main()
