#!/usr/bin/env bash
# Issue 15 item 5: the VGG baseline against TA-, MA- and ASA-SNN, the Spike-driven Transformer and T-RevSNN
# (configs/attention_*.yaml), seeds 0-2, JOBS (default 2) side by side at one thread each, on N-Digits (the
# configs' data) or on N-Fashion (3,000 stratified training images, 10 % of them validation, 10,000 test).
# Run from the repository root:  bash bench/attention_study.sh OUT_DIR ndigits|nfashion [SEEDS] [MODELS]
# Then: .venv/bin/python bench/attention_table.py OUT_DIR   (the table of docs/results.md)
set -euo pipefail
OUT=${1:?OUT_DIR}; DATA=${2:?ndigits or nfashion}; SEEDS=${3:-"0 1 2"}
MODELS=${4:-"baseline ta ma asa sdt trevsnn"}
LTSNN=${LTSNN:-.venv/bin/ltsnn}; JOBS=${JOBS:-2}
case $DATA in
  ndigits) DATA_KEYS="" ;;
  nfashion) DATA_KEYS="data.name=nfashion data.options.train_subset=3000 data.val_fraction=0.1" ;;
  *) echo "data: expected ndigits or nfashion, got $DATA" >&2; exit 2 ;;
esac
run() {     # run SEED MODEL
  local name=$2-s$1
  [ -f "$OUT/$name/report/report.json" ] || OMP_NUM_THREADS=1 $LTSNN train "configs/attention_$2.yaml" \
    train.seed="$1" train.out_dir="$OUT" train.name="$name" train.progress=never $DATA_KEYS > "$OUT/$name.log" \
    2>&1 || echo "FAILED $name" >> "$OUT/failed.txt"
}
export -f run; export OUT LTSNN DATA_KEYS
mkdir -p "$OUT"
for s in $SEEDS; do for m in $MODELS; do echo "$s $m"; done; done | xargs -P "$JOBS" -L 1 bash -c 'run "$@"' _
