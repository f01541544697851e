#!/usr/bin/env bash
# Issue 13 item 5 (e): LM-HT on static Fashion-MNIST for one seed, from the repository root:
#   bash bench/fashion_lmht.sh SEED [OUT_DIR]
# The QCFS ANN (ResNet-20, Q = 8, λ with its own learning rate 0.03) -> IF at T = 2, 4, 8, 16, 32 on the first
# 2,000 test images with per-layer diagnostics; -> LM-HT (L = 2, T = 2) and 3 epochs of fine-tuning; direct
# LM-HT L2T2 against LIF T = 4 (learnable threshold, sgp), 4 epochs each. As run for docs/results.md (seed 0).
set -euo pipefail
SEED=$1; OUT=${2:-runs/fashion}
LTSNN=${LTSNN:-.venv/bin/ltsnn}
DATA=(data.name=fashion_static "data.options={train_subset: 3000}" data.val_fraction=0.1 train.seed="$SEED")
export OMP_NUM_THREADS=1
mkdir -p "$OUT"
ANN="$OUT/qcfs-lamlr-s$SEED"
[ -f "$ANN/checkpoints/last.pt" ] || \
  $LTSNN train configs/fashion_qcfs.yaml train.out_dir="$OUT" train.name="qcfs-lamlr-s$SEED" train.seed="$SEED" \
    optim.threshold_lr=0.03 train.progress=never
.venv/bin/python bench/qcfs_conversion.py "$ANN/checkpoints/best.pt" --steps 2,4,8,16,32 --limit 2000 > "$OUT/conversion-s$SEED.md"
$LTSNN convert "$ANN" --to lmht --levels 2 --steps 2
$LTSNN train configs/ndigits_lmht_finetune.yaml "${DATA[@]}" data.n_time_bins=1 train.epochs=3 train.out_dir="$OUT" \
  train.name="hybrid-s$SEED" train.progress=never train.init_from="$ANN/converted/lmht-L2-T2/checkpoints/last.pt"
$LTSNN train configs/ndigits_lmht.yaml "${DATA[@]}" data.n_time_bins=2 train.epochs=4 train.out_dir="$OUT" \
  train.name="lmht-s$SEED" train.progress=never
$LTSNN train configs/ndigits_lmht.yaml "${DATA[@]}" model.neuron=lif model.threshold_grad=sgp 'model.neuron_options={}' \
  data.n_time_bins=4 train.epochs=4 train.out_dir="$OUT" train.name="lif4-s$SEED" train.progress=never
