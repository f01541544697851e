"""The detection task: per-step grid outputs scored by the YOLO loss, decoded and evaluated by mAP."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ltsnn.data.functional import scale_boxes
from ltsnn.engine.metrics import Record, best_record, format_thresholds
from ltsnn.tasks.detection.decode import decode
from ltsnn.tasks.detection.evaluate import box_array, evaluate_detections

Tensor = torch.Tensor
READOUTS = ("mean", "per_step")



class LossTermsMeter:
    """Sample-weighted means of the loss terms (``xy``, ``wh``, ``obj``, ``noobj``, ``cls``) over a pass."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.seen = 0

    def update(self, out: dict[str, Any], targets: Sequence[Mapping[str, Any]]) -> int:
        n = len(targets)
        for name, value in out["terms"].items():
            self.sums[name] = self.sums.get(name, 0.0) + float(value) * n
        self.seen += n
        return n

    def result(self) -> dict[str, float]:
        return {f"loss_{name}": s / max(self.seen, 1) for name, s in self.sums.items()}

    def partial(self) -> dict[str, Any]:
        """What was counted, as plain values (to combine the shards of a distributed pass)."""
        return {"sums": dict(self.sums), "seen": self.seen}

    def add_partial(self, partial: Mapping[str, Any]) -> None:
        """Count another shard's :meth:`partial` too."""
        for name, value in partial["sums"].items():
            self.sums[name] = self.sums.get(name, 0.0) + value
        self.seen += partial["seen"]


class DetectionMeter(LossTermsMeter):
    """Loss terms plus COCO mAP@[.5:.95], AP50, per-class AP and VOC AP50 of the decoded detections.

    Boxes are scaled from the input frame to the sensor (where ``box_filter`` is defined) and grouped by
    (recording, label instant) as the Prophesee protocol asks (spec §4).
    """

    def __init__(self, task: "DetectionTask"):
        super().__init__()
        self.task = task
        self.gt: dict[int, list] = {}
        self.dt: dict[int, list] = {}

    def update(self, out: dict[str, Any], targets: Sequence[Mapping[str, Any]]) -> int:
        detections = self.task.detect(out)
        sizes = {"from_size": self.task.model.input_size, "to_size": self.task.eval_size}
        for det, target in zip(detections, targets):
            rec, t_us = int(target["recording"]), int(target["t_us"])
            gt_boxes = scale_boxes(target["boxes"].detach().cpu().double().numpy(), **sizes)
            self.gt.setdefault(rec, []).append(box_array(t_us, gt_boxes, target["labels"].cpu().numpy()))
            dt_boxes = scale_boxes(det["boxes"].detach().cpu().double().numpy(), **sizes)
            self.dt.setdefault(rec, []).append(box_array(t_us, dt_boxes, det["labels"].cpu().numpy(),
                                                         det["scores"].detach().cpu().double().numpy()))
        return super().update(out, targets)

    def partial(self) -> dict[str, Any]:
        return {**super().partial(), "gt": self.gt, "dt": self.dt}

    def add_partial(self, partial: Mapping[str, Any]) -> None:
        super().add_partial(partial)
        for mine, theirs in ((self.gt, partial["gt"]), (self.dt, partial["dt"])):
            for rec, boxes in theirs.items():                  # a recording's instants may be on several ranks
                mine.setdefault(rec, []).extend(boxes)

    def result(self) -> dict[str, Any]:
        recordings = sorted(self.gt)
        gt = [_by_time(np.concatenate(self.gt[r])) for r in recordings]
        dt = [_by_time(np.concatenate(self.dt[r])) for r in recordings]
        height, width = self.task.eval_size
        scores = evaluate_detections(gt, dt, height=height, width=width, class_names=self.task.class_names,
                                     box_filter=self.task.box_filter)
        keep = ("map", "map50", "map75", "per_class_ap", "per_class_ap50", "voc_ap50")
        return {**super().result(), **{k: scores[k] for k in keep}, "detections": int(scores["num_dt"])}


def _by_time(boxes: np.ndarray) -> np.ndarray:
    return boxes[np.argsort(boxes["t"], kind="stable")]


class DetectionTask:
    """Runs a detector (per-step grid outputs ``[T, B, S_h·S_w·(5B+C)]``) and scores it with a YOLO loss.

    Args:
        model: a detector with ``grid``, ``num_boxes``, ``num_classes`` and ``input_size`` (e.g.
            :class:`ltsnn.models.yolo.SpikingDetector`).
        loss: :class:`ltsnn.tasks.detection.YoloLoss` for that head.
        readout: ``"mean"`` scores the time-mean prediction (spec §2.3, default); ``"per_step"`` averages the
            loss of every step's prediction (TET-like). Decoding always uses the time mean.
        decode_options: keywords of :func:`ltsnn.tasks.detection.decode` (conf_threshold, nms_iou, nms, style,
            max_detections).
        class_names: by label, for the per-class AP.
        sensor_size: (W, H) of the recordings: predictions and GT are scaled from the input frame to it
            before filtering and evaluation.
        box_filter: a :class:`ltsnn.data.box_filter.BoxFilter` applied to GT and predictions at evaluation.
    """

    metric = "map50"

    def __init__(self, model: nn.Module, loss: nn.Module, *, readout: str = "mean",
                 decode_options: Mapping[str, Any], class_names: Sequence[str], sensor_size: tuple[int, int],
                 box_filter: Any):
        if readout not in READOUTS:
            raise ValueError(f"unknown readout {readout!r}; expected one of {list(READOUTS)}")
        self.model, self.loss, self.readout = model, loss, readout
        self.network: nn.Module = model          # what a batch runs through (the engine may wrap the model)
        self.decode_options = dict(decode_options)
        self.class_names = tuple(class_names)
        self.box_filter = box_filter
        width, height = sensor_size
        self.eval_size = (int(height), int(width))

    def __call__(self, frames: Tensor, targets: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Forward one batch.

        Args:
            frames: ``[B, T, C, H, W]`` float event frames.
            targets: B dicts with ``boxes`` float [N, 4] xywh px of the input frame and ``labels`` int64 [N].
        Returns:
            ``{"loss": scalar, "outputs": per-step predictions [T, B, K], "terms": {name: scalar}}``.
        """
        if frames.dim() != 5:
            raise ValueError(f"expected a batch of frames [B, T, C, H, W], got shape {tuple(frames.shape)}")
        x_seq = frames.transpose(0, 1)                              # [B, T, C, H, W] -> [T, B, C, H, W]
        pred_seq = self.network(x_seq)                              # [T, B, K]
        if self.readout == "mean":
            terms = self.loss(pred_seq.mean(0), targets)
        else:
            per_step = [self.loss(pred, targets) for pred in pred_seq]
            terms = {k: torch.stack([t[k] for t in per_step]).mean() for k in per_step[0]}
        loss = terms.pop("loss")
        return {"loss": loss, "outputs": pred_seq, "terms": {k: v.detach() for k, v in terms.items()}}

    def detect(self, out: dict[str, Any]) -> list[dict[str, Tensor]]:
        """Decoded detections of a batch's outputs: per image ``{"boxes" [M, 4] xywh px of the input frame,
        "scores" [M], "labels" [M]}``."""
        return decode(out["outputs"].detach().mean(0), layout=self.loss.layout, **self.decode_options)

    def to_device(self, targets: Sequence[Mapping[str, Any]], device: torch.device | str) -> list[dict[str, Any]]:
        return [{k: v.to(device) if isinstance(v, Tensor) else v for k, v in t.items()} for t in targets]

    def meter(self, *, split: str) -> LossTermsMeter:
        """Loss terms for training passes; loss terms and mAP for test passes."""
        return DetectionMeter(self) if split == "test" else LossTermsMeter()

    def start_epoch(self) -> None:
        pass                                                        # the YOLO loss keeps no state

    def after_step(self) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass

    def describe(self, result: Mapping[str, Any]) -> str:
        """``mAP50 0.4630, mAP 0.1420 (AP50 car 0.510, pedestrian 0.410)``."""
        per_class = ", ".join(f"{name} {ap:.3f}" for name, ap in result["per_class_ap50"].items())
        return f"mAP50 {result['map50']:.4f}, mAP {result['map']:.4f} (AP50 {per_class})"

    def report_lines(self, test: Mapping[str, Any], history: Sequence[Record]) -> list[str]:
        """The report's Markdown lines on detection: COCO and VOC scores, per-class AP, the run's best epoch."""
        last = history[-1]
        best = best_record(history, metric="map50")
        rows = [f"| {name} | {test['per_class_ap50'][name]:.4f} | {ap:.4f} |" for name, ap in test["per_class_ap"].items()]
        return [f"- test **mAP50 {test['map50']:.4f}**, mAP@[.5:.95] {test['map']:.4f}, mAP75 {test['map75']:.4f} "
                f"(COCO), VOC every-point AP50 {test['voc_ap50']:.4f}; loss {test['loss']:.4f}",
                f"- over the run: final mAP50 {last['test_map50']:.4f} (epoch {last['epoch']}); " + (
                    f"best.pt (epoch {best['epoch']}, chosen on validation mAP50 {best['val_map50']:.4f}) test "
                    f"{best['test_map50']:.4f}" if best is not None else "no validation split, no best.pt"), "",
                "| class | AP50 | AP@[.5:.95] |", "|---|---:|---:|", *rows, "",
                "![loss and mAP](loss_map.png)", "", "![predicted and true boxes](examples.png)", ""]

    def format_epoch(self, record: Record, *, epochs: int) -> str:
        width = len(str(epochs))
        per_class = " ".join(f"{name} {v:.3f}" for name, v in record["test_per_class_ap50"].items())
        return (f"epoch {record['epoch']:>{width}}/{epochs} | train loss {record['train_loss']:.4f} "
                f"| test loss {record['test_loss']:.4f} mAP50 {record['test_map50']:.4f} "
                f"mAP {record['test_map']:.4f} (AP50 {per_class}) | lr {record['lr']:.2e} "
                f"| {record['seconds']:.1f} s | vth {format_thresholds(record['thresholds'], record['fixed_layers'])}")

    def write_plots(self, history: Sequence[Record], folder: Path, *, labels: Mapping[str, str] | None = None,
                    dpi: int = 100) -> list[Path]:
        """The run's curves: ``loss_map.png``, ``thresholds.png``, ``firing_rates.png``."""
        from ltsnn.tasks.detection.plots import write_detection_plots    # matplotlib: imported only when plotting
        return write_detection_plots(history, folder, labels=labels, dpi=dpi)
