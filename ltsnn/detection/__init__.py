"""Detection: the grid head's layout, YOLO loss, decoding + NMS, and the Prophesee/COCO/VOC evaluation."""

from ltsnn.detection.boxes import box_iou, clip_boxes, crop_boxes_ltsnn_code, xywh_to_xyxy, xyxy_to_xywh
from ltsnn.detection.decode import DECODE_PRESETS, batched_nms, decode
from ltsnn.detection.grid import HeadOutputs, YoloGrid
from ltsnn.detection.loss import Assignment, YoloLoss, assign_targets, yolo_loss
from ltsnn.detection.evaluate import (BoxFilter, box_array, box_filter_preset, evaluate_detections, every_point_ap,
                                     reformat_boxes, voc_ap50)
from ltsnn.detection.frames import resize_nearest, scale_boxes, window_frames
from ltsnn.detection.synthetic import ShapesParams, export_gen1, generate_sample, load_or_generate
from ltsnn.detection.datasets import DetectionFrameDataset, collate_detection, moving_shapes
from ltsnn.detection.gen1 import SENSORS, DatFile, Gen1Detection, clean_boxes, label_instants

__all__ = ["Assignment", "BoxFilter", "DECODE_PRESETS", "DatFile", "DetectionFrameDataset", "Gen1Detection",
           "HeadOutputs", "SENSORS", "ShapesParams", "YoloGrid", "YoloLoss", "assign_targets", "batched_nms",
           "box_array", "box_filter_preset", "box_iou", "clean_boxes", "clip_boxes", "collate_detection",
           "crop_boxes_ltsnn_code", "decode", "evaluate_detections", "every_point_ap", "export_gen1",
           "generate_sample", "label_instants", "load_or_generate", "moving_shapes", "reformat_boxes",
           "resize_nearest", "scale_boxes", "voc_ap50", "window_frames", "xywh_to_xyxy", "xyxy_to_xywh",
           "yolo_loss"]
