"""``track eval`` as an API: track a dataset (or a video with ground truth), score it, and the
JSON layout of the result (``EvalReport.as_json``)."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    warnings: list[str] = field(default_factory=list)  # see score_map_warnings

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


def score_map_warnings(dataset: Dataset, config: Config) -> list[str]:
    """One line per class whose detections almost never look confident through the config's
    score map (under 2 % reach 0.5): a map fitted on another detector's scores, such as the
    PointRCNN preset (logits up to 15) on scores in [0, 1]. Run ``track calibrate``."""
    import numpy as np

    out = []
    frames = [d for seq in dataset.sequences for d in seq.frames if len(d)]
    if not frames:
        return out
    scores = np.concatenate([d.score for d in frames])
    class_id = np.concatenate([d.class_id for d in frames])
    for cid in np.unique(class_id):
        name = dataset.class_names[cid] if 0 <= cid < len(dataset.class_names) else str(cid)
        score_map = config.tracker.for_class(name).score_map
        if not score_map.raw or max(score_map.calibrated) < 0.5:
            continue
        confident = float((score_map(scores[class_id == cid]) >= 0.5).mean())
        if confident < 0.02:
            out.append(
                f"{name}: {confident:.1%} of the detections reach 0.5 through the config's score map "
                f"(fitted on raw scores {score_map.raw[0]:g} to {score_map.raw[-1]:g}): is the config "
                "made for these detections? track calibrate measures one"
            )
    return out


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
    warnings = score_map_warnings(dataset, config)
    post = None
    if interpolate_gaps:
        from ..postprocess import interpolate_gaps as fill

        def post(per_frame):
            return fill(per_frame, interpolate_gaps)

    seconds = run_dataset(dataset, config.tracker, results_out, post)
    metrics = dataset.evaluate(Path(results_out))
    return EvalReport(
        fmt, str(data), dataset, config, metrics, total_frames(dataset), seconds, interpolate_gaps, warnings
    )


def video_report_json(video: str | Path, metrics: Metrics) -> dict[str, Any]:
    """The JSON layout of ``track eval VIDEO --gt GT --json``."""
    return {"video": str(video), "metrics": {c: m.as_dict() for c, m in metrics["COMBINED"].items()}}
