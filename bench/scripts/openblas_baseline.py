#!/usr/bin/env python3
"""OpenBLAS baseline for the Stiefel matmul/matvec benchmarks (docs/BENCHMARKS.md, "Matmul and matvec").

Measures, through numpy's OpenBLAS:
  * sgemm: f32 C = A @ B for square n (default 2048), with 1 and 2 threads, best-of-N and median GFLOP/s;
  * sgemv: f32 y = W @ x over a 1 GiB matrix (16384 x 16384), GB/s = matrix bytes / time.

The thread count of OpenBLAS is fixed when the library loads, so every setting runs in a child process
started with OPENBLAS_NUM_THREADS (and OMP_NUM_THREADS) set.

    python3 bench/scripts/openblas_baseline.py [--n 2048] [--reps 15] [--gemv-rows 16384] [--threads 1 2]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CHILD = r'''
import json, sys, time
import numpy as np
kind, size, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
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
else:
    w = rng.standard_normal((size, size), dtype=np.float32)
    x = rng.standard_normal(size, dtype=np.float32)
    y = np.empty(size, dtype=np.float32)
    for _ in range(3):
        np.matmul(w, x, out=y)
    for _ in range(reps):
        t = time.perf_counter(); np.matmul(w, x, out=y); times.append(time.perf_counter() - t)
    work = 4.0 * size * size  # bytes of the matrix
print(json.dumps({"times": times, "work": work}))
'''


def run(kind, size, reps, threads):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", CHILD, kind, str(size), str(reps)], env=env,
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    rates = [r["work"] / t / 1e9 for t in r["times"]]
    return max(rates), statistics.median(rates), statistics.median(r["times"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2048, help="square sgemm size")
    ap.add_argument("--reps", type=int, default=15, help="timed repetitions per setting")
    ap.add_argument("--gemv-rows", type=int, default=16384, help="sgemv matrix is rows x rows f32 (16384: 1 GiB)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()

    import numpy as np
    cfg = np.__config__.CONFIG["Build Dependencies"]["blas"]
    print(f"numpy {np.__version__}, BLAS {cfg.get('name')} {cfg.get('version')}")
    print(f"{'kernel':<28}{'threads':>8}{'best':>12}{'median':>12}{'median time':>14}")
    for t in args.threads:
        best, med, tm = run("gemm", args.n, args.reps, t)
        print(f"{'sgemm %d^3 (GFLOP/s)' % args.n:<28}{t:>8}{best:>12.1f}{med:>12.1f}{tm * 1e3:>12.2f}ms")
    for t in args.threads:
        best, med, tm = run("gemv", args.gemv_rows, args.reps, t)
        gib = 4.0 * args.gemv_rows ** 2 / 2 ** 30
        print(f"{'sgemv %.2g GiB (GB/s)' % gib:<28}{t:>8}{best:>12.1f}{med:>12.1f}{tm * 1e3:>12.2f}ms")


if __name__ == "__main__":
    main()
