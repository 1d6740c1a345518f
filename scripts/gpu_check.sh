#!/usr/bin/env bash
# GPU check: on a machine with an NVIDIA GPU and CuPy, print the GPU and CuPy version, run
# the whole test suite with the CUDA cases enabled, check compiled steps on the GPU (default
# passes, fused kernels, CUDA graphs) against eager and the CPU, run the benchmarks (eager
# and compiled) on cuda and cpu side by side, and write logs plus a summary into a folder.
#
#   scripts/gpu_check.sh [OUT_DIR]        (default: $OUT when set, else ./gpu_check_out)
#
# Needs no network: it runs from the source tree (no install) with the numpy, cupy and
# pytest already on the machine. Test files that need a missing optional package
# (hypothesis, graphviz) are skipped and listed. Budget: under 8 minutes in all.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-gpu_check_out}}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
summary="$out/summary.md"

{
  echo "# GPU check, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo '```'
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi not found"
  python3 - <<'PY'
import numpy
try:
    import cupy
    print(f"cupy {cupy.__version__}, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}, "
          f"device 0: {cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}")
except Exception as error:  # report, and let the tests show the skip reason
    print(f"cupy unusable: {error}")
print(f"numpy {numpy.__version__}")
PY
  echo '```'
} 2>&1 | tee "$summary"

# test files importing an optional package this machine lacks are left out, and said so
ignored=()
for module in hypothesis graphviz; do
  if ! python3 -c "import $module" 2>/dev/null; then
    for file in $(grep -l -E "^(import|from) $module" tests/*.py); do ignored+=("--ignore=$file"); done
    echo "- no \`$module\` here: skipped $(grep -l -E "^(import|from) $module" tests/*.py | tr '\n' ' ')" | tee -a "$summary"
  fi
done

timeout 270 python3 -m pytest -q -p no:cacheprovider -rs "${ignored[@]}" tests 2>&1 | tee "$out/pytest.log"
echo "- tests: $(grep -E '(passed|failed|error)' "$out/pytest.log" | tail -n 1)" | tee -a "$summary"
echo "- CUDA skips (none expected on a GPU machine): $(grep -E 'SKIPPED.*CuPy/GPU' "$out/pytest.log" | head -n 3 || true)" | tee -a "$summary"

# compiled steps on the GPU: against eager and the CPU, with the GPU passes and CUDA graphs
echo "## compiled steps on the GPU (scripts/gpu_compiled_check.py)" | tee -a "$summary"
timeout 90 python3 scripts/gpu_compiled_check.py 2>&1 | tee "$out/compiled.log"
echo '```' >> "$summary"; grep -E '^\|' "$out/compiled.log" >> "$summary"; echo '```' >> "$summary"

# benchmarks: tinygrad_rnn on each device (the NumPy reference always on the CPU), sized to fit
for device in cuda cpu; do
  for bench in "benchmarks/bench_core.py --quick --rounds 3" \
               "benchmarks/bench_rnn.py --sizes S,L --rounds 3"; do
    name=$(basename "${bench%% *}" .py)
    log="$out/${name}_${device}.log"
    echo "## $bench --device $device" | tee -a "$summary"
    # shellcheck disable=SC2086
    OPENBLAS_NUM_THREADS=1 timeout 100 python3 $bench --device "$device" 2>&1 | tee "$log"
    echo '```' >> "$summary"; grep -E '^\|' "$log" | tail -n 40 >> "$summary"; echo '```' >> "$summary"
  done
done
echo "summary written to $summary"
