#!/usr/bin/env bash
# Issue 16 item 5: adversarial and certified robustness on static Fashion-MNIST of an ANN (QCFS, T = 1), and of
# direct-, Poisson- and RSC-coded LIF SNNs (T = 4), seeds 0-2, JOBS (default 2) side by side at one thread each.
# Run from the repository root:  bash bench/robust_fashion.sh OUT_DIR train|attack|certify [SEEDS]
# Then: .venv/bin/python bench/robust_table.py OUT_DIR   (the tables of docs/results.md)
set -euo pipefail
OUT=${1:?OUT_DIR}; STAGE=${2:?train, attack or certify}; SEEDS=${3:-"0 1 2"}
LTSNN=${LTSNN:-.venv/bin/ltsnn}; JOBS=${JOBS:-2}
LIMIT=${LIMIT:-300}            # test images attacked / certified per run (the first LIMIT of the test split)
EPS=0,0.01,0.02,0.05,0.1,0.3   # L-inf radii on [0, 1] images; 0.3 must drive every model to ~0 (no masking)
train() {   # train SEED CODING
  local name=$2-s$1
  [ -f "$OUT/$name/report/report.json" ] || OMP_NUM_THREADS=1 $LTSNN train "configs/robust_fashion_$2.yaml" \
    train.seed="$1" train.out_dir="$OUT" train.name="$name" train.progress=never > "$OUT/$name.log" 2>&1 \
    || echo "FAILED train $name" >> "$OUT/failed.txt"
}
attack() {  # attack SEED CODING NAME [OPTIONS...]: one attack table, skipped when written
  local run=$OUT/$2-s$1 name=$3 eot=1; shift 3
  case $run in *poisson-s*|*rsc-s*) eot=4 ;; esac   # EoT: gradients averaged over 4 draws of a stochastic code
  [ -f "$run/$name.json" ] || OMP_NUM_THREADS=1 $LTSNN attack "$run" --limit "$LIMIT" --eot "$eot" --name "$name" \
    "$@" > "$run/$name.log" 2>&1 || echo "FAILED $run $name" >> "$OUT/failed.txt"
}
certify() { # certify SEED: the RSC net under its own encoder noise
  local run=$OUT/rsc-s$1
  [ -f "$run/certify.json" ] || OMP_NUM_THREADS=1 $LTSNN certify "$run" --noise encoder --n 1000 --n0 100 \
    --alpha 0.001 --limit "$LIMIT" --radii 0,0.1,0.25,0.5,0.75,1.0 > "$run/certify.log" 2>&1 \
    || echo "FAILED certify $run" >> "$OUT/failed.txt"
}
export -f train attack certify; export OUT LTSNN LIMIT EPS
mkdir -p "$OUT"
case $STAGE in
  train)
    for s in $SEEDS; do for c in ann direct poisson rsc; do echo "$s $c"; done; done \
      | xargs -P "$JOBS" -L 1 bash -c 'train "$@"' _ ;;
  attack)
    first=${SEEDS%% *}
    for s in $SEEDS; do
      for c in ann direct poisson rsc; do echo "$s $c attack --eps $EPS --steps 10"; done
      # The gradient-masking checks: PGD-10 transferred from the same seed's ANN; on the first seed also 4x the
      # steps, and for the stochastic codings 4x the EoT draws (the later --eot wins).
      for c in direct poisson rsc; do
        echo "$s $c attack-transfer --eps 0.02,0.05,0.1 --steps 10 --transfer-from $OUT/ann-s$s"
        if [ "$s" = "$first" ]; then echo "$s $c attack-steps40 --eps 0.02,0.05 --steps 40"; fi
      done
      if [ "$s" = "$first" ]; then
        for c in poisson rsc; do echo "$s $c attack-eot16 --eps 0.05,0.1 --steps 10 --eot 16"; done
      fi
    done | xargs -P "$JOBS" -L 1 bash -c 'attack "$@"' _ ;;
  certify)
    printf '%s\n' $SEEDS | xargs -P "$JOBS" -I{} bash -c 'certify {}' ;;
  *) echo "stage: expected train, attack or certify, got $STAGE" >&2; exit 2 ;;
esac
