#!/usr/bin/env bash
# Issue 13 item 5 (e): LM-HT on static Fashion-MNIST for one seed, from the repository root:
#   bash bench/fashion_lmht.sh SEED [OUT_DIR]
# The QCFS ANN (ResNet-20, Q = 8, λ init 8) with λ on its own learning rate 0.03 ("lamlr") -> IF at T = 2, 4, 8,
# 16, 32 on all 10,000 test images with per-layer diagnostics (conversion-qcfs-lamlr-s*.md); -> LM-HT (L = 2,
# T = 2) and 3 epochs of fine-tuning; direct LM-HT L2T2 against LIF T = 4 (learnable threshold, sgp), 4 epochs
# each; last, the same ANN with λ on the one learning rate ("l8", where λ stays near its init) -> IF at
# T = 8 and 16 (L8_STEPS; T = 32 alone takes as long as the rest of the conversion). A step whose output exists
# is skipped, so a stopped run resumes. As run for docs/results.md (seeds 1-2; seed 0 ran its steps by hand).
set -euo pipefail
SEED=$1; OUT=${2:-runs/fashion}
LTSNN=${LTSNN:-.venv/bin/ltsnn}
PY=${PY:-.venv/bin/python}
DATA=(data.name=fashion_static "data.options={train_subset: 3000}" data.val_fraction=0.1 train.seed="$SEED")
export OMP_NUM_THREADS=1
mkdir -p "$OUT"
done_run() { [ -f "$OUT/$1/report/report.json" ]; }

ann() {  # NAME STEPS [overrides...]: one QCFS ANN and its conversion study
  local name=$1 steps=$2; shift 2
  done_run "$name" || $LTSNN train configs/fashion_qcfs.yaml train.out_dir="$OUT" train.name="$name" \
    train.seed="$SEED" train.progress=never "$@"
  [ -s "$OUT/conversion-$name.md" ] || {
    $PY bench/qcfs_conversion.py "$OUT/$name/checkpoints/best.pt" --steps "$steps" --limit 10000 \
      > "$OUT/conversion-$name.part" && mv "$OUT/conversion-$name.part" "$OUT/conversion-$name.md"; }
}
ann "qcfs-lamlr-s$SEED" 2,4,8,16,32 optim.threshold_lr=0.03

ANN="$OUT/qcfs-lamlr-s$SEED"
[ -f "$ANN/converted/lmht-L2-T2/checkpoints/last.pt" ] || $LTSNN convert "$ANN" --to lmht --levels 2 --steps 2
done_run "hybrid-s$SEED" || $LTSNN train configs/ndigits_lmht_finetune.yaml "${DATA[@]}" data.n_time_bins=1 \
  train.epochs=3 train.out_dir="$OUT" train.name="hybrid-s$SEED" train.progress=never \
  train.init_from="$ANN/converted/lmht-L2-T2/checkpoints/last.pt"
done_run "lmht-s$SEED" || $LTSNN train configs/ndigits_lmht.yaml "${DATA[@]}" data.n_time_bins=2 train.epochs=4 \
  train.out_dir="$OUT" train.name="lmht-s$SEED" train.progress=never
done_run "lif4-s$SEED" || $LTSNN train configs/ndigits_lmht.yaml "${DATA[@]}" model.neuron=lif \
  model.threshold_grad=sgp 'model.neuron_options={}' data.n_time_bins=4 train.epochs=4 train.out_dir="$OUT" \
  train.name="lif4-s$SEED" train.progress=never
ann "qcfs-l8-s$SEED" "${L8_STEPS:-8,16}"
