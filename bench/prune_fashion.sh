#!/usr/bin/env bash
# Issue 16 item 5: lottery-ticket pruning on static Fashion-MNIST, magnitude vs the spiking-firing (sf)
# criterion, with late rewinding (epoch 1) and without (fine-tuning), 4 rounds at rate 0.6 (3 epochs each),
# seeds 0-2, JOBS (default 2) side by side at one thread each. Run from the repository root:
#   bash bench/prune_fashion.sh [OUT_DIR] [SEEDS]       (again with more ROUNDS=R continues every pruning)
# Then: .venv/bin/python bench/prune_table.py OUT_DIR   (the table of docs/results.md)
set -euo pipefail
OUT=${1:-runs/prune_study}
SEEDS=${2:-"0 1 2"}
LTSNN=${LTSNN:-.venv/bin/ltsnn}
ROUNDS=${ROUNDS:-4} RATE=0.6 EPOCHS=3 JOBS=${JOBS:-2}   # 4 rounds: 60, 84, 93.6, 97.4 % sparse
dense() {   # the dense run of one seed
  local seed=$1 name=dense-s$1
  [ -f "$OUT/$name/report/report.json" ] || OMP_NUM_THREADS=1 $LTSNN train configs/prune_fashion.yaml train.seed="$seed" \
    train.out_dir="$OUT" train.name="$name" train.progress=never > "$OUT/$name.log" 2>&1
}
prune() {   # one pruning of a copy of the dense run: prune SEED CRITERION REWIND
  local seed=$1 criterion=$2 rewind=$3 name="$2-${3/:/}-s$1"
  [ -d "$OUT/$name" ] || cp -r "$OUT/dense-s$seed" "$OUT/$name"
  OMP_NUM_THREADS=1 $LTSNN prune "$OUT/$name" --rounds $ROUNDS --rate $RATE --epochs $EPOCHS \
    --criterion "$criterion" --rewind "$rewind" train.progress=never > "$OUT/$name.log" 2>&1 \
    || echo "FAILED $name" >> "$OUT/failed.txt"
}
export -f dense prune; export OUT LTSNN ROUNDS RATE EPOCHS
mkdir -p "$OUT"
printf '%s\n' $SEEDS | xargs -P "$JOBS" -I{} bash -c 'dense {}'
for seed in $SEEDS; do for c in magnitude sf; do for r in epoch:1 none; do echo "$seed $c $r"; done; done; done \
  | xargs -P "$JOBS" -L 1 bash -c 'prune "$@"' _
