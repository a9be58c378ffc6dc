#!/usr/bin/env bash
# The one command for the GPU machine (the device `run` tool; see bench/gpu/README.md):
#   bash bench/gpu/run.sh [gpu_swarm.py flags, which override the defaults below]
# Installs the carried wheels (.whl, from bench/gpu/fetch_wheels.sh) into /tmp/site unless hivemind
# already imports, makes the repository importable as `chainswarm` through a symlink (the image
# has no editable install), checks the imports and the GPU, runs the CUDA-only tests, then runs
# bench/gpu_swarm.py on a Llama-2-7B-shaped model within BUDGET_S seconds (default 420). Everything it prints goes to
# $OUT/run.log too; gpu_swarm.json and the nodes' logs land in $OUT. PYTHON picks the interpreter.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
repo=$PWD
out=${OUT:-$repo/out/gpu}
python=${PYTHON:-python3}
budget_s=${BUDGET_S:-420}
mkdir -p "$out"

fail() {  # runs inside main's subshell: ends it, and the pipeline's first status says so
  echo "run.sh: FAILED: $*" >&2
  exit 2
}

main() {
  local started status
  started=$(date +%s)
  if ! "$python" -c 'import hivemind' 2>/dev/null; then
    ls .whl/*.whl >/dev/null 2>&1 \
      || fail "hivemind is missing and no wheels were carried: run bench/gpu/fetch_wheels.sh here, pass carry=[\".whl\"]"
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      .whl/*.whl || fail "pip could not install .whl/*.whl into /tmp/site (two versions of one package? another Python?)"
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  fi
  mkdir -p /tmp/pkgs && ln -sfn "$repo" /tmp/pkgs/chainswarm || fail "cannot link /tmp/pkgs/chainswarm to $repo"
  export PYTHONPATH=/tmp/pkgs${PYTHONPATH:+:$PYTHONPATH}
  export PYTHONUNBUFFERED=1

  "$python" - <<'PY' || fail "imports: see the traceback above"
import sys

import hivemind
import torch
import transformers

import chainswarm
import chainswarm.cli.main
import chainswarm.node.server
import chainswarm.routing.client

print(f"python {sys.version.split()[0]}, torch {torch.__version__}, transformers {transformers.__version__}, "
      f"hivemind {hivemind.__version__}, chainswarm from {chainswarm.__file__}")
print(f"cuda available: {torch.cuda.is_available()}"
      + (f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""))
PY
  "$python" -m chainswarm.cli node --help >/dev/null || fail "python -m chainswarm.cli does not run"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version,clocks.max.sm --format=csv
  fi
  df -h /dev/shm /tmp | sed 1d
  # The CUDA-only tests (CUDA-graph replay equals eager decode, fp32 and fp16) before the timings.
  "$python" -m pytest -q -p no:cacheprovider tests/models/test_graphs.py tests/models/test_span.py \
    || echo "run.sh: CUDA tests FAILED (see above); the benchmark runs anyway" >&2
  echo "run.sh: set-up took $(( $(date +%s) - started )) s; benchmark budget ${budget_s} s"

  timeout --kill-after=30 $(( budget_s + 60 )) "$python" bench/gpu_swarm.py --shape llama2-7b --out "$out" \
    --budget-s "$budget_s" "$@"
  status=$?
  [ "$status" -eq 124 ] && echo "run.sh: gpu_swarm.py overran its budget and was stopped" >&2
  echo "run.sh: exit $status after $(( $(date +%s) - started )) s"
  return "$status"
}

main "$@" 2>&1 | tee -a "$out/run.log"
exit "${PIPESTATUS[0]}"
