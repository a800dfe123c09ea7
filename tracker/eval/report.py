"""``track eval`` as an API: track a dataset (or a video with ground truth), score it, and the
JSON layout of the result (``EvalReport.as_json``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config, diff_from_default
from .datasets import Dataset, run_dataset, total_frames
from .metrics import ClassMetrics

Metrics = dict[str, dict[str, ClassMetrics]]  # sequence (or COMBINED) -> class -> metrics


def load_dataset(
    data: str | Path,
    fmt: str,
    detections: str = "det_pointrcnn",
    fps: float | None = None,
    det_format: str = "auto",
):
    """A KITTI (``fmt="kitti"``, detections from the ``detections`` folder in ``det_format``)
    or MOT dataset."""
    from .datasets import KITTI_FPS, load_kitti, load_mot

    if fmt == "kitti":
        return load_kitti(data, detections, fps or KITTI_FPS, det_format)
    return load_mot(data, fps)


@dataclass
class EvalReport:
    """A tracked and scored dataset."""

    fmt: str
    data: str
    dataset: Dataset
    config: Config
    metrics: Metrics
    frames: int
    seconds: float  # tracker only
    interpolate_gaps: int = 0

    @property
    def tracker_fps(self) -> float:
        return self.frames / max(self.seconds, 1e-9)

    def as_json(self) -> dict[str, Any]:
        """The documented JSON layout of ``track eval --json``."""
        return {
            "format": self.fmt,
            "online": self.interpolate_gaps == 0,
            "interpolate_gaps": self.interpolate_gaps,
            "data": self.data,
            "metrics": {cls: m.as_dict() for cls, m in self.metrics["COMBINED"].items()},
            "sequences": {
                seq: {cls: m.as_dict() for cls, m in per.items()}
                for seq, per in self.metrics.items()
                if seq != "COMBINED"
            },
            "frames": self.frames,
            "tracker_fps": self.tracker_fps,
            "config": diff_from_default(self.config) or {},
        }


def evaluate_dataset(
    data: str | Path,
    fmt: str,
    config: Config,
    results_out: str | Path,
    detections: str = "det_pointrcnn",
    fps: float | None = None,
    interpolate_gaps: int = 0,
    det_format: str = "auto",
) -> EvalReport:
    """Track every sequence of a dataset online from its detection files (``interpolate_gaps``:
    then fill gaps of up to that many frames inside tracks, offline), write
    ``results_out/SEQ.txt`` and score it with TrackEval."""
    if not Path(data).exists():
        raise FileNotFoundError(f"dataset folder not found: {data}")
    dataset = load_dataset(data, fmt, detections, fps, det_format)
    post = None
    if interpolate_gaps:
        from ..postprocess import interpolate_gaps as fill

        def post(per_frame):
            return fill(per_frame, interpolate_gaps)

    seconds = run_dataset(dataset, config.tracker, results_out, post)
    metrics = dataset.evaluate(Path(results_out))
    return EvalReport(
        fmt, str(data), dataset, config, metrics, total_frames(dataset), seconds, interpolate_gaps
    )


def video_report_json(video: str | Path, metrics: Metrics) -> dict[str, Any]:
    """The JSON layout of ``track eval VIDEO --gt GT --json``."""
    return {"video": str(video), "metrics": {c: m.as_dict() for c, m in metrics["COMBINED"].items()}}
