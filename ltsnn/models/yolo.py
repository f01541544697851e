"""Spiking YOLO-style detectors: a spiking conv backbone and a grid head (spec detection.md §2.2-2.3, §5.2).

Backbones are architecture strings (:mod:`ltsnn.models.arch`) of convs and poolings; ``<c>C<k>p<n>`` pads
by n (the LT-SNN code pads its 1×1 convs by 1, §2.2).

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

import torch
from torch import nn

from ltsnn.layers import SeqToBatch
from ltsnn.models.arch import conv_stack, parse_arch
from ltsnn.models.base import Size, SpikingModel, as_pair
from ltsnn.models.registry import register_model
from ltsnn.neurons import NeuronSpec

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


class SpikingDetector(SpikingModel):
    """A spiking backbone (architecture string) and a YOLO grid head (see the module docstring).

    Attributes:
        grid: (S_h, S_w) cells. num_boxes: B boxes per cell. num_classes: C.
        outputs_per_cell: 5B + C. feature_shape: (C', H', W') of the last feature map.
    """

    def __init__(self, arch: str, *, in_channels: int, num_classes: int, input_size: Size, neuron: NeuronSpec,
                 head: str = "conv", num_boxes: int = 2, grid: tuple[int, int] | list[int] | None = None,
                 fc_hidden: int = 512, name: str = "detector"):
        super().__init__(name=name, in_channels=in_channels, input_size=input_size)
        if head not in HEADS:
            raise ValueError(f"{name}: unknown head {head!r}; expected one of {list(HEADS)}")
        if num_boxes < 1 or num_classes < 1:
            raise ValueError(f"{name}: num_boxes={num_boxes}, num_classes={num_classes}; expected both >= 1")
        self.arch, self.head_kind = arch, head
        self.num_boxes, self.num_classes = int(num_boxes), int(num_classes)
        self.outputs_per_cell = 5 * self.num_boxes + self.num_classes
        self.features, (c, h, w) = conv_stack(parse_arch(arch, where=name), in_channels=in_channels,
                                              input_size=self.input_size,
                                              neurons=neuron, where=f"{name} {arch!r}")
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
        return self.features(x_seq)                                 # [T, B, C', H', W'] feature spikes

    def forward_head(self, f_seq: torch.Tensor) -> torch.Tensor:
        """``[T, B, C', H', W']`` -> per-step predictions ``[T, B, S_h·S_w·(5B+C)]``, cells row-major."""
        y_seq = self.head(f_seq)
        if self.head_kind == "conv":
            y_seq = y_seq.permute(0, 1, 3, 4, 2)                    # [T, B, 5B+C, S_h, S_w] -> [T, B, S_h, S_w, 5B+C]
        return y_seq.flatten(2)                                     # -> [T, B, S_h*S_w*(5B+C)]

    def extra_repr(self) -> str:
        return (f"grid={self.grid}, num_boxes={self.num_boxes}, num_classes={self.num_classes}, "
                f"head={self.head_kind!r}")


def _detector(name: str, *, backbone: str, **kw) -> SpikingDetector:
    if backbone not in BACKBONES:
        raise ValueError(f"{name}: unknown backbone {backbone!r}; expected one of {sorted(BACKBONES)}")
    return SpikingDetector(BACKBONES[backbone], name=name, **kw)


# Every threshold learns in the LT-SNN detector code, the first layer's too.
_ALL_LEARN = NeuronSpec(learn_first_threshold=True)


@register_model("yolo_ltsnn")
def yolo_ltsnn(*, in_channels: int = 2, num_classes: int = 2, input_size: Size = (223, 287),
               neuron: NeuronSpec = _ALL_LEARN, backbone: str = "ltsnn_code", head: str = "fc", num_boxes: int = 2,
               grid: tuple[int, int] | list[int] | None = None, fc_hidden: int = 512) -> SpikingDetector:
    """LT-SNN's YOLOv2 detector (Table 3) as its code builds it: Darknet-19, FC 512 -> 6x8x(5B+C) head, 223x287 input

    Every threshold learns, the first layer's too (spec detection.md §2.2-2.3).
    """
    return _detector("yolo_ltsnn", backbone=backbone, in_channels=in_channels, num_classes=num_classes,
                     input_size=input_size, neuron=neuron, head=head, num_boxes=num_boxes, grid=grid,
                     fc_hidden=fc_hidden)


@register_model("yolo_tiny")
def yolo_tiny(*, in_channels: int = 2, num_classes: int = 2, input_size: Size = (48, 64),
              neuron: NeuronSpec = _ALL_LEARN, backbone: str = "shapes", head: str = "conv", num_boxes: int = 2,
              grid: tuple[int, int] | list[int] | None = None, fc_hidden: int = 256) -> SpikingDetector:
    """Small spiking detector for MovingShapes-DVS (spec detection.md §5.2): 8-16-32-64 convs, 1x1 conv head, 6x8 grid

    Input 48x64; every threshold learns, as in the LT-SNN detector code.
    """
    return _detector("yolo_tiny", backbone=backbone, in_channels=in_channels, num_classes=num_classes,
                     input_size=input_size, neuron=neuron, head=head, num_boxes=num_boxes, grid=grid,
                     fc_hidden=fc_hidden)
