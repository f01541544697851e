"""Spiking YOLO-style detectors: a spiking conv backbone and a grid head (spec detection.md §2.2-2.3, §5.2).

Backbones are architecture strings read left to right, as in :mod:`ltsnn.models.vgg`:

- ``<c>C<k>``: conv k×k (stride 1, bias, padding k//2) → BN over T·B → spiking neuron;
  ``<c>C<k>p<n>``: the same with padding n (the LT-SNN code pads its 1×1 convs by 1, §2.2)
- ``MP2`` / ``AP2``: 2×2 max / average pooling, applied to the spikes

Heads turn the feature spikes of every time step into one prediction per grid cell, laid out as the
LT-SNN code's FC576 (spec §2.3): per cell, ``5B + C`` numbers grouped by quantity,
``[r_0..r_{B-1}, c_0.., s^h_0.., s^w_0.., o_0.., z_0..z_{C-1}]`` (row / column offset in cells, √(h/H),
√(w/W), objectness logit, then C class logits shared by the cell's B boxes):

- ``head="fc"``: flatten → Linear(hidden) → ReLU (real-valued, as the code) → Linear(S_h·S_w·(5B+C)); the
  grid is a free choice (LT-SNN: 6 × 8).
- ``head="conv"``: a 1×1 conv from the last feature map to 5B+C channels: fully convolutional, the grid
  is the feature map (the §5.2 reference detector).

Outputs are per step, ``[T, B, S_h·S_w·(5B+C)]`` with the cells in row-major order (``view(T, B, S_h, S_w,
5B+C)`` recovers the grid), so detectors keep the ``[T, B, K]`` contract of every model; the task
averages over T (or scores each step) before the YOLO loss.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import torch
from torch import nn

from ltsnn.layers import SeqToBatch, batchnorm_bt
from ltsnn.models.common import NeuronFactory, as_pair, check_input
from ltsnn.models.registry import register_model

_TOKEN = re.compile(r"^(?:(?P<c>\d+)C(?P<k>\d+)(?:p(?P<pad>\d+))?|(?P<pool>AP|MP)(?P<p>\d+))$")

BACKBONES = {
    # The LT-SNN detector as its code builds it (spec §2.2): Darknet-19 + 1024C1, every 1×1 conv inside a
    # block padded by 1. At 223 × 287 the last map is 1024 × 3 × 3 = 9216 features.
    "ltsnn_code": ("32C3-MP2-64C3-MP2-128C3-64C1p1-128C3-MP2-256C3-128C1p1-256C3-MP2-"
                   "512C3-256C1p1-512C3-256C1p1-512C3-MP2-1024C3-512C1p1-1024C3-512C1p1-1024C3-MP2-1024C1-AP2"),
    # The paper's Table 3 string as §2.2 describes it (no fifth 512C3, MP2 after a 256C1, one
    # 1024C3-512C1-1024C3 block, no 1024C1), 1×1 convs unpadded: 240 × 304 -> 1024 × 3 × 4.
    "ltsnn_paper": ("32C3-MP2-64C3-MP2-128C3-64C1-128C3-MP2-256C3-128C1-256C3-MP2-"
                    "512C3-256C1-512C3-256C1-MP2-1024C3-512C1-1024C3-AP2"),
    # The reference detector of the synthetic set (spec §5.2): 48 × 64 -> 64 × 6 × 8.
    "shapes": "8C3-MP2-16C3-MP2-32C3-MP2-64C3",
}
HEADS = ("fc", "conv")


class SpikingDetector(nn.Module):
    """A spiking backbone (architecture string) and a YOLO grid head (see the module docstring).

    Attributes:
        grid: (S_h, S_w) cells. num_boxes: B boxes per cell. num_classes: C.
        outputs_per_cell: 5B + C. input_size: (H, W). in_channels.
    """

    def __init__(self, arch: str, *, in_channels: int, num_classes: int, input_size: int | tuple[int, int],
                 neurons: NeuronFactory, head: str = "conv", num_boxes: int = 2,
                 grid: tuple[int, int] | list[int] | None = None, fc_hidden: int = 512, name: str = "detector"):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"{name}: unknown head {head!r}; expected one of {list(HEADS)}")
        if num_boxes < 1 or num_classes < 1:
            raise ValueError(f"{name}: num_boxes={num_boxes}, num_classes={num_classes}; expected both >= 1")
        self.arch, self.name, self.head_kind = arch, name, head
        self.in_channels, self.input_size = in_channels, as_pair(input_size)
        self.num_boxes, self.num_classes = int(num_boxes), int(num_classes)
        self.outputs_per_cell = 5 * self.num_boxes + self.num_classes
        layers: list[nn.Module] = []
        c, (h, w) = in_channels, self.input_size
        first = True
        for tok in arch.split("-"):
            m = _TOKEN.match(tok)
            if m is None:
                raise ValueError(f"{name}: bad architecture token {tok!r} in {arch!r}; expected <c>C<k>[p<pad>], "
                                 f"MP<n> or AP<n>")
            if m["c"]:
                c_out, k = int(m["c"]), int(m["k"])
                pad = int(m["pad"]) if m["pad"] is not None else k // 2
                layers += [SeqToBatch(nn.Conv2d(c, c_out, k, padding=pad), batchnorm_bt(c_out)),
                           neurons(channels=c_out, first=first)]
                c, first = c_out, False
                h, w = h + 2 * pad - k + 1, w + 2 * pad - k + 1
            else:
                p = int(m["p"])
                layers.append(SeqToBatch(nn.AvgPool2d(p) if m["pool"] == "AP" else nn.MaxPool2d(p)))
                h, w = h // p, w // p
            if h < 1 or w < 1:
                raise ValueError(f"{name}: input size {self.input_size} is too small for {arch!r} (empty map at "
                                 f"{tok!r})")
        self.features = nn.Sequential(*layers)
        self.feature_shape = (c, h, w)
        if head == "conv":
            if grid is not None and tuple(grid) != (h, w):
                raise ValueError(f"{name}: a conv head's grid is the last feature map, {h} x {w} for input "
                                 f"{self.input_size}; got grid={list(grid)} (leave it out, or use head='fc')")
            self.grid = (h, w)
            self.head = SeqToBatch(nn.Conv2d(c, self.outputs_per_cell, 1))
        else:
            self.grid = as_pair(grid) if grid is not None else (6, 8)
            n_out = self.grid[0] * self.grid[1] * self.outputs_per_cell
            self.head = SeqToBatch(nn.Flatten(), nn.Linear(c * h * w, fc_hidden), nn.ReLU(),
                                   nn.Linear(fc_hidden, n_out))
        # PyTorch's default initialisation, as in the calibration of spec §5.2: with Kaiming fan-out on every conv
        # (the VGGs' choice) yolo_tiny stayed at mAP50 ≈ 0.001 on MovingShapes after 5 epochs, against 0.10 after
        # one epoch with the default (measured; objectness ended up ≈ 0.26 in every slot).

    def forward_features(self, x_seq: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` frames -> ``[T, B, C', H', W']`` feature spikes."""
        check_input(x_seq, self.in_channels, self.input_size, self.name)
        return self.features(x_seq)

    def forward_head(self, f_seq: torch.Tensor) -> torch.Tensor:
        """``[T, B, C', H', W']`` -> per-step predictions ``[T, B, S_h·S_w·(5B+C)]``, cells row-major."""
        y_seq = self.head(f_seq)
        if self.head_kind == "conv":
            y_seq = y_seq.permute(0, 1, 3, 4, 2)                    # [T, B, 5B+C, S_h, S_w] -> [T, B, S_h, S_w, 5B+C]
        return y_seq.flatten(2)                                     # -> [T, B, S_h*S_w*(5B+C)]

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x_seq))

    def extra_repr(self) -> str:
        return (f"grid={self.grid}, num_boxes={self.num_boxes}, num_classes={self.num_classes}, "
                f"head={self.head_kind!r}")


def _register_detector(name: str, doc: str, *, backbone: str, head: str, input_size: tuple[int, int],
                       fc_hidden: int, learn_first_threshold: bool):
    def build(*, in_channels: int = 2, num_classes: int = 2, input_size: int | tuple[int, int] = input_size,
              neuron: str = "lif", threshold_grad: str = "sgp", learn_first_threshold: bool = learn_first_threshold,
              neuron_options: Mapping[str, Any] | None = None, backbone: str = backbone, head: str = head,
              num_boxes: int = 2, grid: tuple[int, int] | list[int] | None = None,
              fc_hidden: int = fc_hidden) -> SpikingDetector:
        if backbone not in BACKBONES:
            raise ValueError(f"{name}: unknown backbone {backbone!r}; expected one of {sorted(BACKBONES)}")
        neurons = NeuronFactory(neuron, threshold_grad=threshold_grad, learn_first_threshold=learn_first_threshold,
                                neuron_options=neuron_options)
        return SpikingDetector(BACKBONES[backbone], in_channels=in_channels, num_classes=num_classes,
                               input_size=input_size, neurons=neurons, head=head, num_boxes=num_boxes, grid=grid,
                               fc_hidden=fc_hidden, name=name)
    build.__doc__ = doc
    build.__name__ = name
    register_model(name)(build)
    return build


_register_detector(
    "yolo_ltsnn", "LT-SNN's YOLOv2 detector (Table 3) as its code builds it: Darknet-19 backbone, FC 512 -> "
    "6x8x(5B+C) head, 223x287 input, every threshold learnable (spec detection.md §2.2-2.3)",
    backbone="ltsnn_code", head="fc", input_size=(223, 287), fc_hidden=512, learn_first_threshold=True)
_register_detector(
    "yolo_tiny", "Small spiking detector for MovingShapes-DVS (spec detection.md §5.2): 8-16-32-64 convs, "
    "1x1 conv head on a 6x8 grid at 48x64",
    backbone="shapes", head="conv", input_size=(48, 64), fc_hidden=256, learn_first_threshold=True)
