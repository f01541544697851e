"""Hand-run benchmark (issue 15 item 2): training memory of T-RevSNN against T, with and without the reversible
backward, and a plain BPTT VGG for reference.

The figure is the bytes of the distinct storages autograd keeps for the backward after one forward
(``ltsnn.engine.energy.saved_tensor_bytes``): deterministic, and what grows with T (parameters and gradients do
not). The reversible backward adds one level's recomputed intermediates at a time on top, a constant.
Batch 8, 2×32×32 frames, float32, 1 thread::

    OMP_NUM_THREADS=1 .venv/bin/python bench/trevsnn_memory.py
"""

import torch

from ltsnn.engine.energy import saved_tensor_bytes
from ltsnn.models import create_model

torch.set_num_threads(1)
B, SIZE, STEPS = 8, 32, (2, 4, 8, 16)
variants = {
    "trevsnn_tiny, plain autograd (BPTT)": ("trevsnn_tiny", {"reversible": False}),
    "trevsnn_tiny, reversible, rev_store=per_column": ("trevsnn_tiny", {"rev_store": "per_column"}),
    "trevsnn_tiny, reversible, rev_store=last_only": ("trevsnn_tiny", {"rev_store": "last_only"}),
    "vgg_tiny, BPTT (reference)": ("vgg_tiny", {}),
}
print(f"| model | {' | '.join(f'T = {t}' for t in STEPS)} | per extra step |")
print(f"|---|{'---|' * len(STEPS)}---|")
for label, (name, options) in variants.items():
    torch.manual_seed(0)
    model = create_model(name, input_size=SIZE, **options).train()
    mb = []
    for T in STEPS:
        x = torch.rand(T, B, 2, SIZE, SIZE, generator=torch.Generator().manual_seed(T))
        mb.append(saved_tensor_bytes(lambda: model(x).sum()) / 1e6)
    slope = (mb[-1] - mb[0]) / (STEPS[-1] - STEPS[0])
    print(f"| {label} | {' | '.join(f'{m:.2f} MB' for m in mb)} | {slope:.3f} MB |")
