"""ONNX detectors of the YOLO family through onnxruntime (YOLOX output layout)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..source import Frame
from ..structures import Detections
from .base import COCO_CLASSES, ROAD_USERS, class_filter
from .nms import batched_nms

# onnxruntime execution providers that run the model off the CPU.
ACCELERATORS = frozenset(
    {
        "CUDAExecutionProvider",
        "TensorrtExecutionProvider",
        "ROCMExecutionProvider",
        "MIGraphXExecutionProvider",
        "DmlExecutionProvider",
        "CoreMLExecutionProvider",
    }
)


class OnnxYoloxDetector:
    """YOLOX exported to ONNX: input 1x3xSxS BGR 0..255, letterboxed top-left, padded with 114;
    output (1, A, 5 + C): grid-relative ``cx, cy, log w, log h``, objectness, class scores."""

    def __init__(
        self,
        path: str | Path,
        classes: Sequence[str] | None = ROAD_USERS,
        score_threshold: float = 0.1,
        nms_iou: float = 0.45,
        class_names: Sequence[str] = COCO_CLASSES,
        threads: int = 0,
        device: str = "auto",
    ) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {path}")
        try:
            options = ort.SessionOptions()
            if threads > 0:
                options.intra_op_num_threads = threads
            providers = ort.get_available_providers()
            if device == "cpu":
                providers = ["CPUExecutionProvider"]
            elif device == "cuda":
                providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ValueError(
                f"{path} is not a loadable ONNX model ({str(exc).splitlines()[0][:200]})"
            ) from None
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.runs_batches = False  # the exported model takes one image; frames run one by one
        on_cpu = not ACCELERATORS.intersection(self.session.get_providers())
        self.cpu_threads = (threads if threads > 0 else os.cpu_count() or 1) if on_cpu else 0
        self.size = int(model_input.shape[2]) if isinstance(model_input.shape[2], int) else 416
        self.class_names = tuple(class_names)
        self.keep_class = class_filter(self.class_names, classes)
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self._grid = self._make_grid()

    def _make_grid(self) -> tuple[np.ndarray, np.ndarray]:
        grids, strides = [], []
        for stride in (8, 16, 32):
            n = self.size // stride
            ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
            grids.append(np.stack([xs, ys], axis=-1).reshape(-1, 2))
            strides.append(np.full((n * n, 1), stride))
        return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)

    def _letterbox(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        import cv2

        h, w = image.shape[:2]
        scale = min(self.size / h, self.size / w)
        resized = cv2.resize(
            image, (int(round(w * scale)), int(round(h * scale))), interpolation=cv2.INTER_LINEAR
        )
        canvas = np.full((self.size, self.size, 3), 114, np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        return canvas, scale

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        return [self._detect_one(frame.image) for frame in frames]

    def _detect_one(self, image: np.ndarray) -> Detections:
        canvas, scale = self._letterbox(image)
        blob = canvas.transpose(2, 0, 1)[None].astype(np.float32)
        out = self.session.run(None, {self.input_name: blob})[0][0]
        return self.decode(out, scale, image.shape[:2])

    def decode(self, out: np.ndarray, scale: float, image_hw: tuple[int, int]) -> Detections:
        """Raw model output (A, 5 + C) to detections in the original image's pixels."""
        # A score is objectness x class probability, so anchors whose objectness is already
        # below the threshold cannot pass: the rest of the work is done on the few left.
        anchors = np.flatnonzero(out[:, 4] >= self.score_threshold)
        if len(anchors) == 0:
            return Detections.empty()
        out = out[anchors]
        scores = out[:, 4:5] * out[:, 5:]
        scores[:, ~self.keep_class] = 0
        cls = scores.argmax(axis=1)
        score = scores[np.arange(len(scores)), cls]
        keep = score >= self.score_threshold
        if not keep.any():
            return Detections.empty()
        kept_anchors, out = anchors[keep], out[keep]
        grid, stride = self._grid[0][kept_anchors], self._grid[1][kept_anchors]
        centre = (out[:, 0:2] + grid) * stride
        size = np.exp(np.clip(out[:, 2:4], -10, 10)) * stride
        xyxy = np.concatenate([centre - size / 2, centre + size / 2], axis=1) / scale
        h, w = image_hw
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
        score, cls = score[keep], cls[keep]
        kept = batched_nms(xyxy, score, cls, self.nms_iou)
        return Detections(xyxy[kept], score[kept], cls[kept])
