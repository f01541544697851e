#!/usr/bin/env bash
# Issue 13 item 5 (a)-(d): LT-SNN's ablations on N-Fashion, seeds 0-2, JOBS (default 2) runs side by side at one
# thread each (the machine has 2 cores). Run from the repository root:  bash bench/nfashion_ablations.sh [OUT_DIR]
# Then: .venv/bin/python bench/nfashion_table.py OUT_DIR   (the tables of docs/results.md)
set -euo pipefail
OUT=${1:-runs/nfashion}
LTSNN=${LTSNN:-.venv/bin/ltsnn}
jobs() {
  for seed in 0 1 2; do
    for mode in sgp fixed stsg sgp_official penalty_for_all; do
      echo "a-$mode-s$seed model.threshold_grad=$mode train.seed=$seed"
    done
    echo "b-thlr-s$seed optim.threshold_lr=3e-5 train.seed=$seed"
    for w in arctan triangle piecewise; do
      echo "c-$w-s$seed model.neuron_options.sgp_weight=$w train.seed=$seed"
    done
    echo "d-sawb4-s$seed model.quant_bits=4 train.seed=$seed"
  done
}
run() {
  local name=$1; shift
  [ -f "$OUT/$name/report/report.json" ] && return 0          # finished (the report is written last)
  OMP_NUM_THREADS=1 $LTSNN train configs/nfashion_ltsnn.yaml train.out_dir="$OUT" train.name="$name" \
    train.progress=never "$@" > "$OUT/$name.log" 2>&1 || echo "FAILED $name" >> "$OUT/failed.txt"
}
export -f run; export OUT LTSNN
mkdir -p "$OUT"
jobs | xargs -P "${JOBS:-2}" -L 1 bash -c 'run "$@"' _
