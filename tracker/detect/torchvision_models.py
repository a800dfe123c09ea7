"""torchvision COCO detectors (Faster R-CNN, RetinaNet, FCOS, SSDlite).

Weights come from torchvision's own download and cache (``$TORCH_HOME``, by default
``~/.cache/torch/hub/checkpoints``), or from a local checkpoint (``--weights FILE``, loaded with
``weights_only=True``). ``weights="none"`` builds the network with random weights (tests,
speed measurements).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..source import Frame
from ..structures import Detections
from .base import ROAD_USERS, class_filter, resolve_device

MODELS = {
    "fasterrcnn_mobilenet_v3_large_fpn": "FasterRCNN_MobileNet_V3_Large_FPN_Weights",
    "fasterrcnn_resnet50_fpn_v2": "FasterRCNN_ResNet50_FPN_V2_Weights",
    "retinanet_resnet50_fpn_v2": "RetinaNet_ResNet50_FPN_V2_Weights",
    "fcos_resnet50_fpn": "FCOS_ResNet50_FPN_Weights",
    "ssdlite320_mobilenet_v3_large": "SSDLite320_MobileNet_V3_Large_Weights",
}


class TorchvisionDetector:
    def __init__(
        self,
        name: str,
        device: str = "auto",
        weights: str | None = None,
        classes: Sequence[str] | None = ROAD_USERS,
        score_threshold: float = 0.1,
    ) -> None:
        import torch
        import torchvision.models.detection as tvd

        if name not in MODELS:
            raise ValueError(f"unknown torchvision detector {name!r}; valid: {', '.join(MODELS)}")
        enum = getattr(tvd, MODELS[name])
        self.class_names = tuple(enum.DEFAULT.meta["categories"])
        self.keep_class = class_filter(self.class_names, classes)
        self.device = resolve_device(device)
        self.score_threshold = score_threshold
        builder = getattr(tvd, name)
        if weights is None:
            model = self._download(builder, enum, name)
        else:
            model = builder(weights=None, weights_backbone=None, num_classes=len(self.class_names))
            if weights != "none":
                path = Path(weights)
                if not path.is_file():
                    raise FileNotFoundError(f"weights file not found: {path}")
                try:
                    state = torch.load(path, map_location="cpu", weights_only=True)
                    model.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
                except Exception as exc:  # any unpickling or shape error is a bad file for the user
                    raise ValueError(
                        f"{path}: not a state dict for {name} ({str(exc).splitlines()[0][:160]})"
                    ) from None
        model.eval().to(self.device)
        self.half = self.device == "cuda"
        # On the CPU a batch costs as much as its frames one by one (measured), and waiting
        # for one only holds results back.
        self.runs_batches = self.device == "cuda"
        self.cpu_threads = torch.get_num_threads() if self.device == "cpu" else 0
        if self.half:
            model.half()
        self.model = model

    @staticmethod
    def _download(builder, enum, name: str):
        import contextlib
        import io

        try:
            # torch.hub prints progress (and "Downloading: URL") on stderr; keep errors to one line.
            with contextlib.redirect_stderr(io.StringIO()):
                return builder(weights=enum.DEFAULT)
        except Exception as exc:  # URLError, OSError, RuntimeError from a failed download
            raise ValueError(
                f"could not get the pretrained weights of {name} ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:120]}); with no network, pass a local checkpoint: --weights FILE"
            ) from None

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        import torch

        if not frames:
            return []
        tensors = []
        for f in frames:
            t = torch.from_numpy(np.ascontiguousarray(f.image[:, :, ::-1])).to(self.device)
            t = t.permute(2, 0, 1).float().div_(255)
            tensors.append(t.half() if self.half else t)
        with torch.inference_mode():
            outputs = self.model(tensors)
        return [self.convert(o) for o in outputs]

    def convert(self, output: dict) -> Detections:
        """torchvision's output dict (boxes xyxy, scores, labels) to ``Detections``."""
        boxes = output["boxes"].float().cpu().numpy()
        scores = output["scores"].float().cpu().numpy()
        labels = output["labels"].cpu().numpy().astype(np.int64)
        keep = (scores >= self.score_threshold) & self.keep_class[
            np.clip(labels, 0, len(self.keep_class) - 1)
        ]
        return Detections(boxes[keep], scores[keep], labels[keep])
