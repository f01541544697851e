"""PNGs of a detection run: loss / mAP curves per epoch, and event frames with predicted and true boxes.

matplotlib (the ``cli`` extra) is imported only when a plot is drawn, with the Agg backend (files only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ltsnn.engine.metrics import Record
from ltsnn.engine.plots import pyplot, run_name_of, save_figure, write_neuron_plots

TRUE_COLOUR = "#00e5ff"          # cyan, dashed: ground truth
PRED_COLOUR = "#ffd400"          # yellow, solid: predictions


def write_detection_plots(history: Sequence[Record], folder: str | Path, *, labels: Mapping[str, str] | None = None,
                          dpi: int = 100) -> list[Path]:
    """Write ``loss_map.png`` (train/test loss; test mAP50, mAP@[.5:.95] and per-class AP50 per epoch),
    ``thresholds.png`` and ``firing_rates.png`` into ``folder`` (inside the run folder, whose name titles them)."""
    run_name = run_name_of(folder)
    plt = pyplot()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(10, 4))
    for split in ("train", "test"):
        ax_loss.plot(epochs, [r[f"{split}_loss"] for r in history], marker=".", label=split)
    ax_map.plot(epochs, [r["test_map50"] for r in history], marker=".", label="mAP50")
    ax_map.plot(epochs, [r["test_map"] for r in history], marker=".", label="mAP@[.5:.95]")
    for name in history[-1]["test_per_class_ap50"]:
        ax_map.plot(epochs, [r["test_per_class_ap50"][name] for r in history], linestyle="--", marker=".",
                    label=f"AP50 {name}")
    ax_loss.set(xlabel="epoch", ylabel="loss", title=f"{run_name}: YOLO loss")
    ax_map.set(xlabel="epoch", ylabel="AP", title=f"{run_name}: test AP (COCO)", ylim=(0, 1))
    for ax in (ax_loss, ax_map):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    written = [save_figure(fig, folder / "loss_map.png", plt, dpi=dpi)]
    return written + write_neuron_plots(history, folder, run_name=run_name, labels=labels, dpi=dpi)


def event_image(frames: np.ndarray) -> np.ndarray:
    """RGB image [H, W, 3] in [0, 1] of frames [T, 2, H, W]: ON events green, OFF red, summed over time and
    scaled by the largest count (both channels lit: yellow)."""
    counts = frames.sum(0)                                               # [2, H, W]: OFF, ON
    peak = max(float(counts.max()), 1.0)
    rgb = np.zeros((*counts.shape[1:], 3))
    rgb[..., 0] = counts[0] / peak
    rgb[..., 1] = counts[1] / peak
    return np.clip(rgb ** 0.5, 0, 1)                                     # √: faint edges stay visible


@torch.no_grad()
def write_examples(task: Any, dataset: Any, path: str | Path, *, count: int = 8, columns: int = 4,
                   per_image: int = 5, device: str = "cpu", dpi: int = 120) -> Path:
    """One PNG of the first ``count`` samples of ``dataset``: event frames with true boxes (cyan, dashed) and
    the task's ``per_image`` highest-scoring decoded predictions (yellow, with class and score), in input-frame
    pixels. (The mAP counts every detection above the decode threshold; drawing them all hides the frame.)

    Args:
        task: a :class:`~ltsnn.tasks.detection.DetectionTask` (its model is run in eval mode).
        dataset: a detection data set (items (frames [T, C, H, W], {"boxes", "labels", ...})).
    Returns:
        ``path``.
    """
    from ltsnn.neurons import reset_states
    plt = pyplot()
    from matplotlib.patches import Rectangle
    count = min(count, len(dataset))
    items = [dataset[i] for i in range(count)]
    frames = torch.stack([f for f, _ in items]).to(device)               # [B, T, C, H, W]
    targets = task.to_device([t for _, t in items], device)
    task.model.eval()
    out = task(frames, targets)
    reset_states(task.model)
    detections = task.detect(out)
    names = task.class_names
    rows = -(-count // columns)
    h, w = frames.shape[-2:]
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns * w / max(h, w) * 1.2, 3.2 * rows * h / max(h, w) * 1.2),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, det, target) in enumerate(zip(axes.flat, detections, targets)):
        ax.imshow(event_image(frames[i].cpu().numpy()), interpolation="nearest", extent=(0, w, h, 0))
        top = det["scores"].argsort(descending=True)[:per_image]
        for (x, y, bw, bh), k, s in zip(det["boxes"][top].tolist(), det["labels"][top].tolist(),
                                        det["scores"][top].tolist()):
            ax.add_patch(Rectangle((x, y), bw, bh, fill=False, edgecolor=PRED_COLOUR, linewidth=1.0))
            ax.text(x, y - 0.5, f"{names[k]} {s:.2f}", color=PRED_COLOUR, fontsize=6, va="bottom")
        for (x, y, bw, bh), k in zip(target["boxes"].tolist(), target["labels"].tolist()):
            ax.add_patch(Rectangle((x, y), bw, bh, fill=False, edgecolor=TRUE_COLOUR, linestyle="--", linewidth=1.8))
        ax.set_title(f"sample {i}: " + ", ".join(names[k] for k in target["labels"].tolist()), fontsize=7)
    fig.suptitle(f"true boxes: cyan, dashed; the {per_image} best predictions: yellow (class, score)", fontsize=8)
    return save_figure(fig, Path(path), plt, dpi=dpi)
