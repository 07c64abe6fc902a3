#!/usr/bin/env bash
# The OpenCL backend on an NVIDIA GPU (written for an H200 with NVIDIA's OpenCL driver), in one repeatable run:
#   1. sgemm at 4096³ and the LLaMA-7B FFN shapes (X [T, 4096] · Wᵀ, W [11008, 4096]; and the down projection) on the
#      OpenCL backend with two tilings (64/4x4, 128/8x8), against torch.matmul in fp32 with TF32 off (cuBLAS) in the
#      same run, same shapes; the faster tiling over these shapes is used by every later step;
#   2. one OSTQuant learning step (W4A4KV4, KL-Top, batch 1) on a TinyLlama-1.1B-shaped model with synthetic weights,
#      on the GPU and on 2 CPU cores (taskset + -Dstiefel.threads=2, the 2-core machine the targets refer to);
#   3. packed 4-bit and 8-bit weights resident as stored: x·Wᵀ at a 7B FFN shape, one token (GB/s of packed bytes) and
#      a 512-token prompt;
#   4. the parity tests (every op against the CPU backend, the tensor ops against f64 references, autograd's gradient
#      checks, a LLaMA forward + backward, packed weights, every sgemm tiling with plain and transposed operands, the
#      fused fake quantization, device-side gradients and optimizer steps) on the GPU.
# Targets (issue 18): sgemm >= 0.5x cuBLAS fp32; the learning step >= 20x the 2-core CPU.
#
# The device machine has no Java and no Maven. Prepare on a build machine (JDK 25):
#   ./stiefel build
#   jlink --add-modules java.se,jdk.incubator.vector,jdk.unsupported --strip-debug --no-header-files --no-man-pages \
#         --output stiefel-runtime
# and carry stiefel-runtime/, bench/target/benchmarks.jar and this script. The GPU machine needs the NVIDIA driver's
# libOpenCL (an ICD loader) and python3 with torch (CUDA) for the cuBLAS side.
#
#   bench/scripts/h200_opencl_check.sh --runtime stiefel-runtime --jar benchmarks.jar [--out DIR] [--quick]
#
# --quick: smaller OST step (seqlen 128) and fewer repetitions, for a short device budget. --smoke: tiny shapes, no OST
# step, any OpenCL platform (checks the script itself, e.g. on PoCL). Every figure goes to
# DIR/results.jsonl (one JSON object per line) and DIR/summary.txt; copy the summary into docs/BENCHMARKS.md with the
# date and device it prints.
set -euo pipefail

RUNTIME="" JAR="" OUT="" QUICK=0 SMOKE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runtime) RUNTIME="$2"; shift 2 ;;
    --jar) JAR="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --smoke) SMOKE=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x "$RUNTIME/bin/java" ]] || { echo "--runtime must be a jlink'ed JDK 25 runtime (with jdk.incubator.vector)" >&2; exit 2; }
[[ -f "$JAR" ]] || { echo "--jar must be bench/target/benchmarks.jar" >&2; exit 2; }
OUT="${OUT:-$PWD/opencl-check-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"

# JOCL loads the unversioned libOpenCL.so; driver installs often ship only libOpenCL.so.1
if ! ldconfig -p | grep -q 'libOpenCL\.so '; then
  ONE=$(ldconfig -p | sed -n 's/.*libOpenCL\.so\.1 .*=> //p' | head -n1)
  [[ -n "$ONE" ]] || { echo "no libOpenCL.so.1 on this machine: install the NVIDIA driver's OpenCL ICD loader" >&2; exit 2; }
  mkdir -p "$OUT/lib" && ln -sf "$ONE" "$OUT/lib/libOpenCL.so"
  export LD_LIBRARY_PATH="$OUT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

JAVA=("$RUNTIME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC
      -XX:MaxRAMPercentage=75 -cp "$JAR")
PLATFORM="${STIEFEL_OPENCL_PLATFORM:-NVIDIA}"
[[ $SMOKE == 1 ]] && PLATFORM="${STIEFEL_OPENCL_PLATFORM:-}"
GPU=(-Dstiefel.backend=opencl -Dstiefel.opencl.platform="$PLATFORM")
REPS=20; OST_SEQ=512; OST_REPS=2
if [[ $QUICK == 1 ]]; then REPS=5; OST_SEQ=128; OST_REPS=1; fi

{
  echo "date        $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host        $(hostname)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/gpu         /' || true
  echo "cpu         $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) threads"
  python3 -c 'import torch; print("torch      ", torch.__version__, "cuda", torch.version.cuda)' 2>/dev/null || echo "torch       (not available)"
} | tee "$OUT/machine.txt"

"${JAVA[@]}" "${GPU[@]}" dev.stiefel.bench.OpenClCheck info 2>>"$OUT/stderr.log" | tee -a "$RESULTS"

# name M N K transpose_b: C[M, N] = A[M, K] · B, B = Wᵀ of a row-major W [N, K] when transpose_b
SHAPES=("square 4096 4096 4096 0" "ffn-up 512 11008 4096 1" "ffn-up 4096 11008 4096 1" "ffn-down 4096 4096 11008 1")
[[ $SMOKE == 1 ]] && { SHAPES=("square 257 257 257 0" "ffn-up 33 257 129 1"); REPS=2; }

echo "== cuBLAS fp32 (torch.matmul, TF32 off)"
python3 - "$REPS" "${SHAPES[@]}" <<'PY' | tee -a "$RESULTS" || echo '{"check":"torch","error":"torch with CUDA is not available"}' | tee -a "$RESULTS"
import json, sys, torch
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision("highest")
reps = int(sys.argv[1])
dev = torch.device("cuda")
for spec in sys.argv[2:]:
    name, m, n, k, tb = spec.split(); m, n, k, tb = int(m), int(n), int(k), tb == "1"
    g = torch.Generator(device=dev).manual_seed(1)
    a = torch.rand(m, k, device=dev, generator=g) * 2 - 1
    w = torch.rand((n, k) if tb else (k, n), device=dev, generator=g) * 2 - 1
    f = (lambda: a @ w.t()) if tb else (lambda: a @ w)
    for _ in range(3): f()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); f(); e.record(); torch.cuda.synchronize()
        times.append(s.elapsed_time(e) / 1e3)
    times.sort()
    print(json.dumps({"check": "sgemm", "backend": "cublas-fp32", "shape": name, "m": m, "n": n, "k": k, "transpose_b": tb,
                      "best_s": times[0], "median_s": times[len(times) // 2], "gflops": 2 * m * n * k / times[0] / 1e9}))
PY

echo "== OpenCL sgemm (default tile 64, 4x4 per item; then tile 128, 8x8)"
for tiling in "64 4" "128 8"; do
  read -r TILE WPT <<<"$tiling"
  for spec in "${SHAPES[@]}"; do
    read -r NAME M N K TB <<<"$spec"
    "${JAVA[@]}" "${GPU[@]}" -Dstiefel.opencl.sgemm.tile="$TILE" -Dstiefel.opencl.sgemm.wpt="$WPT" dev.stiefel.bench.OpenClCheck \
      sgemm "$M" "$N" "$K" $([[ $TB == 1 ]] && echo --transpose-b) --reps "$REPS" 2>>"$OUT/stderr.log" \
      | sed "s/^{/{\"shape\":\"$NAME\",\"tile\":$TILE,\"wpt\":$WPT,/" | tee -a "$RESULTS"
  done
done

# the faster tiling over the timed shapes (the sum of their best times) is the one the later steps run with
read -r BEST_TILE BEST_WPT < <(python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
total = {}
for r in rows:
    if r.get("check") == "sgemm" and r.get("backend") == "opencl" and "best_s" in r:
        total[(r["tile"], r["wpt"])] = total.get((r["tile"], r["wpt"]), 0) + r["best_s"]
best = min(total, key=total.get) if total else (64, 4)
print(*best)
PY
)
echo "{\"check\":\"tiling\",\"tile\":$BEST_TILE,\"wpt\":$BEST_WPT}" | tee -a "$RESULTS"
GPU+=(-Dstiefel.opencl.sgemm.tile="$BEST_TILE" -Dstiefel.opencl.sgemm.wpt="$BEST_WPT")

echo "== packed 4-bit weights on the GPU: x·Wᵀ, W [11008, 4096] and [4096, 11008] int4 g128 (a 7B FFN), 1 and 512 tokens"
PACKED=("11008 4096 4 128 1" "4096 11008 4 128 1" "11008 4096 4 128 512" "11008 4096 8 0 1")
[[ $SMOKE == 1 ]] && PACKED=("257 300 4 128 1" "257 300 4 128 33")
for spec in "${PACKED[@]}"; do
  read -r N K BITS GROUP T <<<"$spec"
  "${JAVA[@]}" "${GPU[@]}" dev.stiefel.bench.OpenClCheck packed "$N" "$K" "$BITS" "$GROUP" --tokens "$T" --reps "$REPS" 2>>"$OUT/stderr.log" | tee -a "$RESULTS"
done

if [[ $SMOKE == 0 ]]; then
  echo "== one OSTQuant learning step, TinyLlama-1.1B shape, seqlen $OST_SEQ"
  "${JAVA[@]}" "${GPU[@]}" dev.stiefel.bench.OpenClCheck ost-step tinyllama-1.1b "$OST_SEQ" --reps "$OST_REPS" 2>>"$OUT/stderr.log" | tee -a "$RESULTS"
  taskset -c 0,1 "${JAVA[@]}" -Dstiefel.threads=2 dev.stiefel.bench.OpenClCheck ost-step tinyllama-1.1b "$OST_SEQ" --reps 1 2>>"$OUT/stderr.log" | tee -a "$RESULTS"
fi

echo "== parity tests on the GPU"
PARITY=0
"${JAVA[@]}" "${GPU[@]}" dev.stiefel.bench.OpenClCheck parity 2>>"$OUT/parity.log" | tee -a "$RESULTS" || PARITY=$?

python3 - "$RESULTS" "$OUT/machine.txt" <<'PY' | tee "$OUT/summary.txt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(open(sys.argv[2]).read().strip())
cublas = {r["shape"]: r for r in rows if r.get("backend") == "cublas-fp32" and "shape" in r}
print("\nsgemm (GFLOP/s, best of the repetitions)        cuBLAS fp32   OpenCL   ratio (target >= 0.5)")
for r in rows:
    if r.get("check") == "sgemm" and r.get("backend") == "opencl":
        ref = next((c for c in cublas.values() if (c["m"], c["n"], c["k"]) == (r["m"], r["n"], r["k"])), None)
        ratio = r["gflops"] / ref["gflops"] if ref else float("nan")
        print(f'  {r["shape"]:9s} {r["m"]}x{r["n"]}x{r["k"]} tile {r["tile"]}/{r["wpt"]:<2}'
              f'      {ref["gflops"] if ref else float("nan"):10.1f} {r["gflops"]:8.1f}   {ratio:5.2f}   (max rel err {r["max_rel_error"]:.2g})')
for r in rows:
    if r.get("check") == "tiling":
        print(f'\nthe faster sgemm tiling, used from here on (packed prompts, the learning step, the parity tests): tile {r["tile"]}, {r["wpt"]}x{r["wpt"]} per item')
ost = {r["backend"]: r for r in rows if r.get("check") == "ost-step" and "best_step_s" in r}
if "opencl" in ost and "cpu" in ost:
    print(f'\nOSTQuant step, TinyLlama-1.1B shape, seqlen {ost["opencl"]["seqlen"]}: GPU {ost["opencl"]["best_step_s"]:.3f} s, '
          f'CPU ({ost["cpu"]["threads"]} threads) {ost["cpu"]["best_step_s"]:.3f} s, speed-up {ost["cpu"]["best_step_s"] / ost["opencl"]["best_step_s"]:.1f}x (target >= 20x); '
          f'loss before: GPU {ost["opencl"]["loss_before"]:.6f}, CPU {ost["cpu"]["loss_before"]:.6f}; '
          f'learn() moved {ost["opencl"].get("learn_up_mb", float("nan")):.0f} MB up, {ost["opencl"].get("learn_down_mb", float("nan")):.0f} MB down '
          f'in {ost["opencl"].get("learn_uploads", -1)} / {ost["opencl"].get("learn_downloads", -1)} transfers, {ost["opencl"].get("learn_launches", -1)} kernel launches')
packed = [r for r in rows if r.get("check") == "packed" and r.get("backend") == "opencl"]
if packed:
    print("\npacked weights resident as stored, x·Wᵀ (best of the repetitions)")
for r in packed:
    print(f'  int{r["bits"]} g{r["group"]} {r["n"]}x{r["k"]}, {r["tokens"]} token(s): {r["best_s"] * 1e3:.3f} ms, '
          f'{r["gb_per_s"]:.1f} GB/s of packed weights (max rel err {r["max_rel_error"]:.2g})')
for r in rows:
    if r.get("check") == "parity":
        print(f'\nparity tests on the GPU: {r["succeeded"]} passed, {r["failed"]} failed, {r["skipped"]} skipped')
PY
exit "$PARITY"
