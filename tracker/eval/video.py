"""Evaluate the whole pipeline (detector + tracker) on videos with MOT ground truth."""

from __future__ import annotations

from pathlib import Path

from ..config import Config
from ..detect import Detector
from ..formats import read_mot
from ..output_paths import refuse_inputs
from ..pipeline import Pipeline, RunSummary
from .metrics import ClassMetrics, evaluate_mot

VIDEO_CLASS = "object"


def evaluate_videos(
    pairs: list[tuple[Path, Path]],
    config: Config,
    results_dir: str | Path,
    detector: Detector | None = None,
) -> tuple[dict[str, dict[str, ClassMetrics]], list[RunSummary]]:
    """Track each video, write ``results_dir/<video stem>.txt`` (MOT), score with TrackEval.

    Every detection counts as the single MOT class, reported as ``VIDEO_CLASS`` ("object"): the
    synthetic spec has one kind of object, and not a pedestrian.
    """
    results_dir = Path(results_dir)
    inputs = [str(p) for pair in pairs for p in pair]
    refuse_inputs(inputs, [("results", results_dir / f"{Path(v).stem}.txt") for v, _ in pairs])
    results_dir.mkdir(parents=True, exist_ok=True)
    gt_files, lengths, summaries = {}, [], []
    for video, gt in pairs:
        video, gt = Path(video), Path(gt)
        if not gt.is_file():
            raise FileNotFoundError(f"ground truth not found: {gt}")
        truth = read_mot(gt, "gt")
        with Pipeline(config, detector) as pipeline:
            summary = pipeline.run(video, None, results_dir / f"{video.stem}.txt", "mot")
        summaries.append(summary)
        gt_files[video.stem] = gt
        lengths.append((video.stem, max(summary.frames, int(truth.frame.max(initial=-1)) + 1)))
    metrics = evaluate_mot(gt_files, results_dir, lengths)
    # TrackEval's MOT class is "pedestrian"; the boxes here are any kind of object
    relabelled = {
        seq: {VIDEO_CLASS if c == "pedestrian" else c: m for c, m in by_class.items()}
        for seq, by_class in metrics.items()
    }
    return relabelled, summaries
