"""HOTA, CLEAR and Identity metrics through TrackEval (``trackeval`` package).

TrackEval wants its own folder layout; we build it in a temporary folder out of symlinks and
silence its printing, and hand back plain numbers per class and sequence.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

_EVAL_CONFIG = {
    "USE_PARALLEL": False,
    "BREAK_ON_ERROR": True,
    "LOG_ON_ERROR": None,
    "PRINT_RESULTS": False,
    "PRINT_CONFIG": False,
    "TIME_PROGRESS": False,
    "OUTPUT_SUMMARY": False,
    "OUTPUT_DETAILED": False,
    "PLOT_CURVES": False,
}


@dataclass(frozen=True)
class ClassMetrics:
    """Headline metrics for one class over one sequence or all (``COMBINED``); percentages."""

    HOTA: float
    DetA: float
    AssA: float
    DetRe: float
    DetPr: float
    MOTA: float
    IDF1: float
    IDSW: int
    gt_dets: int
    tracker_dets: int

    def as_dict(self) -> dict:
        return asdict(self)


def _summarise(res: dict) -> ClassMetrics:
    hota = res["HOTA"]
    return ClassMetrics(
        HOTA=100 * float(np.mean(hota["HOTA"])),
        DetA=100 * float(np.mean(hota["DetA"])),
        AssA=100 * float(np.mean(hota["AssA"])),
        DetRe=100 * float(np.mean(hota["DetRe"])),
        DetPr=100 * float(np.mean(hota["DetPr"])),
        MOTA=100 * float(res["CLEAR"]["MOTA"]),
        IDF1=100 * float(res["Identity"]["IDF1"]),
        IDSW=int(res["CLEAR"]["IDSW"]),
        gt_dets=int(res["Count"]["GT_Dets"]),
        tracker_dets=int(res["Count"]["Dets"]),
    )


def _run(dataset_cls, dataset_config: dict) -> dict[str, dict[str, ClassMetrics]]:
    import trackeval  # imported here: it is slow to import and only evaluation needs it

    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        evaluator = trackeval.Evaluator(dict(_EVAL_CONFIG))
        dataset = dataset_cls(dataset_config)
        quiet = {"PRINT_CONFIG": False}
        metrics = [
            trackeval.metrics.HOTA(quiet),
            trackeval.metrics.CLEAR(quiet),
            trackeval.metrics.Identity(quiet),
        ]
        results, messages = evaluator.evaluate([dataset], metrics)
    name = dataset.get_name()
    res = results[name]["ours"]
    if res is None:
        raise RuntimeError(f"TrackEval failed: {messages[name]['ours']}")
    out: dict[str, dict[str, ClassMetrics]] = {}
    for seq, per_class in res.items():
        key = "COMBINED" if seq == "COMBINED_SEQ" else seq
        out[key] = {cls: _summarise(m) for cls, m in per_class.items()}
    return out


def evaluate_kitti(
    gt_dir: str | Path,
    results_dir: str | Path,
    sequences: list[tuple[str, int]],
    classes: tuple[str, ...] = ("car", "pedestrian"),
) -> dict[str, dict[str, ClassMetrics]]:
    """Score KITTI tracking results with TrackEval's ``Kitti2DBox``.

    Args:
        gt_dir: folder with ``label_02/SSSS.txt``.
        results_dir: folder with one ``SSSS.txt`` per sequence, KITTI tracking format.
        sequences: ``(name, num_frames)`` pairs to score.
    Returns:
        ``{sequence or "COMBINED": {class: ClassMetrics}}``.
    """
    import trackeval

    with tempfile.TemporaryDirectory(prefix="track-eval-") as tmp:
        tmp = Path(tmp)
        gt = tmp / "gt"
        gt.mkdir()
        os.symlink(Path(gt_dir).resolve() / "label_02", gt / "label_02")
        seqmap = "".join(f"{name} empty 000000 {n:06d}\n" for name, n in sequences)
        (gt / "evaluate_tracking.seqmap.training").write_text(seqmap)
        _link_results(tmp, results_dir)
        config = {
            "GT_FOLDER": str(gt),
            "TRACKERS_FOLDER": str(tmp / "trackers"),
            "OUTPUT_FOLDER": str(tmp / "out"),
            "TRACKERS_TO_EVAL": ["ours"],
            "CLASSES_TO_EVAL": list(classes),
            "SPLIT_TO_EVAL": "training",
            "PRINT_CONFIG": False,
        }
        return _run(trackeval.datasets.Kitti2DBox, config)


def evaluate_mot(
    gt_files: dict[str, Path],
    results_dir: str | Path,
    sequences: list[tuple[str, int]],
) -> dict[str, dict[str, ClassMetrics]]:
    """Score MOT Challenge results with TrackEval's ``MotChallenge2DBox`` (class pedestrian).

    Args:
        gt_files: ``{sequence: path of gt.txt}``.
        results_dir: folder with one ``SEQ.txt`` per sequence, MOT format.
        sequences: ``(name, num_frames)`` pairs to score.
    """
    import trackeval

    with tempfile.TemporaryDirectory(prefix="track-eval-") as tmp:
        tmp = Path(tmp)
        for name, _ in sequences:
            (tmp / "gt" / name / "gt").mkdir(parents=True)
            shutil.copyfile(gt_files[name], tmp / "gt" / name / "gt" / "gt.txt")
        _link_results(tmp, results_dir)
        config = {
            "GT_FOLDER": str(tmp / "gt"),
            "TRACKERS_FOLDER": str(tmp / "trackers"),
            "OUTPUT_FOLDER": str(tmp / "out"),
            "TRACKERS_TO_EVAL": ["ours"],
            "CLASSES_TO_EVAL": ["pedestrian"],
            "SEQ_INFO": {name: n for name, n in sequences},
            "SKIP_SPLIT_FOL": True,
            "DO_PREPROC": False,
            "PRINT_CONFIG": False,
        }
        return _run(trackeval.datasets.MotChallenge2DBox, config)


def _link_results(tmp: Path, results_dir: str | Path) -> None:
    (tmp / "trackers" / "ours").mkdir(parents=True)
    os.symlink(Path(results_dir).resolve(), tmp / "trackers" / "ours" / "data")
