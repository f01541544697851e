"""Detection: the grid head's layout, YOLO loss, decoding + NMS, the Prophesee/COCO/VOC evaluation, the task."""

from ltsnn.tasks.detection.boxes import box_iou, crop_boxes_ltsnn_code, xywh_to_xyxy, xyxy_to_xywh
from ltsnn.tasks.detection.decode import DECODE_PRESETS, batched_nms, decode
from ltsnn.tasks.detection.grid import HeadOutputs, YoloGrid
from ltsnn.tasks.detection.loss import Assignment, YoloLoss, assign_targets, yolo_loss
from ltsnn.tasks.detection.evaluate import box_array, evaluate_detections, every_point_ap, voc_ap50
from ltsnn.tasks.detection.task import DetectionTask

__all__ = ["Assignment", "DECODE_PRESETS", "DetectionTask", "HeadOutputs", "YoloGrid", "YoloLoss", "assign_targets",
           "batched_nms", "box_array", "box_iou", "crop_boxes_ltsnn_code", "decode", "evaluate_detections",
           "every_point_ap", "voc_ap50", "xywh_to_xyxy", "xyxy_to_xywh", "yolo_loss"]
