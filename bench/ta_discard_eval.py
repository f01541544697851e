"""Hand-run (issue 15 item 5): TA-SNN's frame discarding at inference, on a trained ``ta_vgg`` checkpoint.

For each threshold d_th, every TemporalAttention drops (sample, step) frames whose weight is below d_th; prints
the test accuracy, the share of frames dropped (over all TA layers) and the mean firing rate::

    OMP_NUM_THREADS=1 .venv/bin/python bench/ta_discard_eval.py runs/attention/ta/checkpoints/best.pt 0.3 0.4 0.5
"""

import sys

from ltsnn.build import EVAL_KEYS, build_dataset, build_task, restore
from ltsnn.engine import evaluate, test_loader
from ltsnn.layers import TemporalAttention

checkpoint, thresholds = sys.argv[1], [float(v) for v in sys.argv[2:]] or [0.5]
restored = restore(checkpoint, allowed=EVAL_KEYS, why="the TA discard evaluation rebuilds the model")
cfg = restored.config
test_set = build_dataset(cfg.data, split="test")
task = build_task(cfg, restored.model, test_set)
task.load_state_dict(restored.checkpoint["task"])
loader = test_loader(test_set, batch_size=cfg.data.batch_size, num_workers=0)
tas = [m for m in restored.model.modules() if isinstance(m, TemporalAttention)]
if not tas:
    raise SystemExit(f"{checkpoint}: the model has no TemporalAttention layer")
print("| d_th | test accuracy | frames dropped | mean firing rate |\n|---|---|---|---|")
for d_th in [None, *thresholds]:
    for ta in tas:
        ta.discard, ta.discard_threshold = ("off", 0.5) if d_th is None else ("below_threshold", d_th)
        ta.reset_counts()
    result = evaluate(task, loader)
    seen, dropped = sum(ta.frames_seen for ta in tas), sum(ta.frames_dropped for ta in tas)
    rates = result["firing_rates"]
    print(f"| {'off' if d_th is None else d_th} | {100 * result['acc']:.2f} % | "
          f"{dropped / seen if seen else 0:.1%} | {sum(rates.values()) / len(rates):.4f} |")
