#!/usr/bin/env bash
# The GPU check, on the GPU host: unpacks the payload built by `npm run gpu-check` (Node, the bundled
# entry points, native addons, the Vulkan loader, the Python files) and runs, side by side, raw
# PyTorch, the PyTorch executor through job.json, and the builtin runtime on WebGPU. Each step has its
# own time limit and JSON lines file; results are collected after every step into $OUT/gpu.json.
# GPU_CHECK_LOCAL=1: the rehearsal on a machine without a GPU (tiny model, CPU fallbacks).
set -u
P="$(cd "$(dirname "$0")" && pwd)"
W="${GPU_CHECK_WORK:-}"
if [ -z "$W" ]; then # model files are written and read at memory speed where /dev/shm is large enough
  W=/tmp/posthuman-gpu-check
  [ "$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2{print $4}')" -gt 20000000 ] 2>/dev/null && W=/dev/shm/posthuman-gpu-check
fi
RESULTS="${OUT:-$W/out}" # what comes back: gpu.json, lines.jsonl, logs.txt, host.txt (the device tool returns at most 8 files)
O="$W/res"
PY="${PYTHON:-python3}"
LOCAL="${GPU_CHECK_LOCAL:-0}"
STEPS=",${GPU_CHECK_STEPS:-torch,webgpu,executor}," # a rerun may take fewer
DEADLINE=$((SECONDS + ${GPU_CHECK_BUDGET:-450}))
rm -rf "$W/run" "$O" && mkdir -p "$W/run" "$O" "$RESULTS"
R="$W/run"
export POSTHUMAN_ML_CACHE="$R/cache"
# The rehearsal runs the builtin runtime on a software WebGPU where the caller set one up (GPU_CHECK_DEVICE=webgpu,
# VK_DRIVER_FILES naming lavapipe, POSTHUMAN_WEBGPU_SOFTWARE=1), else on the CPU provider; PyTorch on the CPU.
if [ "$LOCAL" = 1 ]; then DEV="${GPU_CHECK_DEVICE:-cpu}"; TORCH_DEV=cpu; CONFIGS="tiny"; QUICK="--quick"
else DEV=webgpu; TORCH_DEV=cuda; CONFIGS="small medium"; QUICK=""; fi
CONFIGS="${GPU_CHECK_CONFIGS:-$CONFIGS}"

log() { printf '[gpu-check %4ss] %s\n' "$SECONDS" "$*"; }
collect() {
  "$PY" "$P/collect.py" "$O" >>"$O/collect.log" 2>&1 || log "collect failed (see collect.log)"
  [ -f "$O/gpu.json" ] && cp "$O/gpu.json" "$RESULTS/gpu.json"
  cat "$O"/*.jsonl >"$RESULTS/lines.jsonl" 2>/dev/null
  for f in "$O"/*.log; do echo "== $(basename "$f")"; tail -n 60 "$f"; done >"$RESULTS/logs.txt" 2>/dev/null
  cp "$O/host.txt" "$RESULTS/host.txt" 2>/dev/null
  return 0
}
# step NAME LIMIT_S CMD...: stdout to NAME.jsonl, stderr to NAME.log; never stops the run.
step() {
  local name="$1" limit="$2"; shift 2
  local left=$((DEADLINE - SECONDS))
  [ "$limit" -gt "$left" ] && limit="$left"
  if [ "$limit" -lt 15 ]; then
    log "$name: skipped, the run's time budget is spent"
    printf '{"step":"%s","error":"skipped: out of time"}\n' "$name" >>"$O/skipped.jsonl"
    return 0
  fi
  log "$name (limit ${limit}s)"
  local t0=$SECONDS
  timeout -k 5 "$limit" "$@" >>"$O/$name.jsonl" 2>>"$O/$name.log"
  local rc=$?
  log "$name: rc=$rc in $((SECONDS - t0))s"
  [ $rc -ne 0 ] && tail -n 5 "$O/$name.log" | sed 's/^/    /'
  collect
  return 0
}

log "payload $P, work $R, results $O, device $DEV"
# --- 0. host: GPU, driver, Python, then Node, native addons and the Vulkan loader from the payload
{
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  echo "NVIDIA_DRIVER_CAPABILITIES=${NVIDIA_DRIVER_CAPABILITIES:-}"; ls /usr/local/nvidia/lib64 2>/dev/null | grep -i "glx\|vk\|egl\|gpucomp" | tr '\n' ' '; echo
  nproc; "$PY" -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda, torch.cuda.is_available())'
} >"$O/host.txt" 2>&1
cat "$O/host.txt"
"$PY" "$P/unpack.py" xz "$P/node.xz" "$R/node" || { log "cannot unpack node"; }
"$PY" "$P/unpack.py" tar "$P/runtime-modules.tar.xz" "$R" || log "cannot unpack the native addons"
# The Vulkan loader and libglvnd: into / where we are root on a host that has neither (a throwaway GPU machine),
# else into the work folder, on LD_LIBRARY_PATH.
if [ "$LOCAL" != 1 ] && [ "$(id -u)" = 0 ] && command -v dpkg >/dev/null && ! ldconfig -p | grep -q libvulkan.so.1; then
  for deb in "$P"/*.deb; do dpkg -x "$deb" / || log "cannot unpack $deb"; done
  ldconfig
else
  for deb in "$P"/*.deb; do "$PY" "$P/unpack.py" deb "$deb" "$R/vulkan" || log "cannot unpack $deb"; done
  VKLIB="$(dirname "$(find "$R/vulkan" -name 'libvulkan.so.1' 2>/dev/null | head -1)" 2>/dev/null)"
  if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1 && [ -n "$VKLIB" ]; then export LD_LIBRARY_PATH="$VKLIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
fi
NV_ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$NV_ICD" ]; then export VK_DRIVER_FILES="$NV_ICD"; fi
NV_EGL=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
if [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && [ -f "$NV_EGL" ]; then export __EGL_VENDOR_LIBRARY_FILENAMES="$NV_EGL"; fi
[ -f "$NV_ICD" ] && cat "$NV_ICD"
cp "$P/bench.mjs" "$R/bench.mjs"
NODE="$R/node"
log "node $("$NODE" --version 2>&1), LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-} VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"
step info 40 "$NODE" "$R/bench.mjs" info

# --- 1. model folders from a seed, datasets, ONNX exports and loss graphs: CPU work, one process per config,
#        beside the PyTorch runs; each config's GPU steps wait for its own preparation only
declare -A PREP
for c in $CONFIGS; do
  ( timeout 300 "$NODE" --max-old-space-size=8192 "$R/bench.mjs" prepare "$R" "$c" || echo "{\"step\":\"prepare\",\"config\":\"$c\",\"error\":\"rc $?\"}" ) \
    >>"$O/prepare-$c.jsonl" 2>>"$O/prepare-$c.log" &
  PREP[$c]=$!
done

# --- 2. raw PyTorch
[[ $STEPS == *,torch,* ]] && step torch 170 "$PY" "$P/torch_ref.py" --configs "${CONFIGS// /,}" $QUICK \
  --kinds "${GPU_CHECK_TORCH_KINDS:-train,eval,generate}" --out "$O/torch-ref.jsonl"
rm -f "$O/torch.jsonl" # the same lines as torch-ref.jsonl (printed and appended)

export POSTHUMAN_TORCH_SCRIPT="$P/executor/pytorch/run.py" POSTHUMAN_TORCH_PYTHON="$PY"
# --- 3. the builtin runtime on WebGPU and the PyTorch executor, config by config
first=1
for c in $CONFIGS; do
  wait "${PREP[$c]}"; log "prepare $c: $(cut -c1-300 "$O/prepare-$c.jsonl")"
  [[ $STEPS == *,webgpu,* || $STEPS == *,webgpu-infer,* ]] && step "webgpu-infer-$c" 150 "$NODE" --max-old-space-size=8192 "$R/bench.mjs" infer "$R" "$c" --device "$DEV"
  # where the builtin runtime's GPU time goes (first config only): onnxruntime's profiler, GPU timestamps per shader
  [ $first = 1 ] && [[ $STEPS == *,webgpu,* || $STEPS == *,webgpu-profile,* ]] && step "webgpu-profile-$c" 60 "$NODE" --max-old-space-size=8192 "$R/bench.mjs" profile "$R" "$c" --device "$DEV"
  if [ -f "$P/executor/pytorch/run.py" ] && [[ $STEPS == *,executor,* ]]; then
    step "executor-$c" 150 "$NODE" --max-old-space-size=8192 "$R/bench.mjs" executor "$R" "$c" --device "$TORCH_DEV"
  fi
  if [ $first = 1 ] && [[ $STEPS == *,webgpu,* || $STEPS == *,webgpu-train,* ]]; then
    step "webgpu-train-$c" 120 "$NODE" --max-old-space-size=8192 "$R/bench.mjs" train "$R" "$c" --device "$DEV"
    first=0
  fi
done
collect
cat "$O/collect.log" | tail -1
log "done; figures in $RESULTS/gpu.json"
