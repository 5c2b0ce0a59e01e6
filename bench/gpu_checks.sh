#!/usr/bin/env bash
# The GPU measurements of training (issue 5) in one go, for a lent GPU or a batch node:
#   bash bench/gpu_checks.sh OUTDIR
# Each run appends one JSON line to OUTDIR/gpu_bench.jsonl (stderr goes to gpu_bench.log).
# Most important first; each run has its own time limit, and a failed or timed-out run
# is logged and skipped so the rest still run. PRESET (default lite) picks the model;
# SKIP=N skips the first N runs after the smoke test (to go on after a cut-off call).
set -uo pipefail
out=${1:?usage: bash bench/gpu_checks.sh OUTDIR}
preset=${PRESET:-lite}
mkdir -p "$out"
results=$out/gpu_bench.jsonl
log=$out/gpu_bench.log
export PYTHONUNBUFFERED=1
skip=${SKIP:-0}
count=-1 # the smoke test (run 0) always runs

run() { # run LIMIT_S BENCH-ARGS...
    local limit=$1 t0=$SECONDS rc
    shift
    count=$((count + 1))
    if [ "$count" -ge 1 ] && [ "$count" -le "$skip" ]; then
        echo "== skipped ($count <= SKIP): evenet bench $*" | tee -a "$log"
        return 0
    fi
    echo "== evenet bench $*" | tee -a "$log"
    timeout "$limit" python3 -m evenet.cli bench "$@" --json >"$out/last.json" 2>>"$log"
    rc=$?
    if [ "$rc" -eq 0 ]; then
        cat "$out/last.json" >>"$results"
        cat "$out/last.json"
    else
        echo "   failed or timed out (exit $rc); see $log" | tee -a "$log"
    fi
    echo "   $((SECONDS - t0)) s" | tee -a "$log"
    return "$rc"
}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true; } |
    tee -a "$log"
python3 -c 'import sys, torch; print(sys.version.split()[0], torch.__version__)' | tee -a "$log"

# A broken setup shows in seconds, not after the whole list.
run 120 model --preset tiny --batch-size 64 --steps 2 --bf16 || exit 1
python3 -m evenet.cli model --preset "$preset" --json >/dev/null || exit 1

# Where a bf16 step still runs float32 products or waits for the GPU, by source line.
run 120 model --preset "$preset" --mode pretrain --batch-size 1024 --steps 3 --bf16 --audit
# Eager baselines, then the compiled body (default mode, then CUDA graphs), then the loop.
run 90 model --preset "$preset" --mode pretrain --batch-size 1024 --steps 10 --bf16
run 300 model --preset "$preset" --mode pretrain --batch-size 1024 --steps 10 --bf16 --compile
run 300 model --preset "$preset" --mode pretrain --batch-size 1024 --steps 10 --bf16 \
    --compile-mode reduce-overhead
# Fine-tuning as the haa analysis has it (one assignment head), then all heads as on 11-25.
ft="model --preset $preset --mode finetune --batch-size 4096 --steps 10 --bf16"
run 90 $ft --topologies haa_4b
run 240 $ft --topologies haa_4b --compile
run 240 $ft --topologies haa_4b --compile-mode reduce-overhead
run 90 $ft
run 120 train --preset "$preset" --batch-size 1024 --workers 8 --steps 20 --warmup 5 \
    --events 100000
run 120 train --preset "$preset" --finetune --batch-size 4096 --workers 12 --steps 20 \
    --warmup 5 --events 300000
run 300 train --preset "$preset" --batch-size 1024 --workers 8 --steps 20 --warmup 5 \
    --events 100000 --compile
run 90 model --preset "$preset" --mode pretrain --batch-size 4096 --steps 5 --bf16
run 90 model --preset "$preset" --mode pretrain --batch-size 1024 --steps 3
echo "done: $(wc -l <"$results") results in $results"
