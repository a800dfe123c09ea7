"""Reliability plots of score maps (``track calibrate --plot``), drawn with OpenCV."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .calibrate import ScoreCalibration, reliability

_SIZE = 360  # pixels per panel side
_MARGIN = 50


def _panel(title: str, x_label: str, x_range: tuple[float, float]) -> tuple[np.ndarray, callable]:
    img = np.full((_SIZE + 2 * _MARGIN, _SIZE + 2 * _MARGIN, 3), 255, np.uint8)
    lo, hi = x_range

    def to_px(x: float, y: float) -> tuple[int, int]:
        u = (x - lo) / (hi - lo or 1.0)
        return int(_MARGIN + u * _SIZE), int(_MARGIN + (1.0 - y) * _SIZE)

    cv2.rectangle(img, to_px(lo, 0.0), to_px(hi, 1.0), (0, 0, 0), 1)
    for t in np.linspace(0, 1, 6):
        x, y = to_px(lo, t)
        cv2.putText(img, f"{t:.1f}", (x - 34, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        x, y = to_px(lo + t * (hi - lo), 0.0)
        cv2.putText(
            img, f"{lo + t * (hi - lo):.2g}", (x - 10, y + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1
        )
    cv2.putText(img, title, (_MARGIN, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    cv2.putText(
        img,
        x_label,
        (_MARGIN + _SIZE // 3, _SIZE + _MARGIN + 38),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.45,
        (0, 0, 0),
        1,
    )
    return img, to_px


def reliability_plot(calibration: ScoreCalibration, detector: str) -> np.ndarray:
    """Two panels: the raw score -> precision map with the measured precision of equal-count
    score bands, and the reliability diagram (calibrated score against observed precision,
    the diagonal is perfect), dot area by the number of detections."""
    samples, score_map = calibration.samples, calibration.score_map
    lo, hi = float(samples.score.min()), float(samples.score.max())
    left, to_px = _panel(f"{detector} {samples.cls}: precision by raw score", "raw score", (lo, hi))
    order = np.argsort(samples.score)
    for band in np.array_split(order, min(20, len(order))):
        x, y = float(samples.score[band].mean()), float(samples.hit[band].mean())
        cv2.circle(left, to_px(x, y), 4, (200, 120, 0), -1)
    xs = np.linspace(lo, hi, 200)
    pts = np.array([to_px(x, y) for x, y in zip(xs, score_map(xs), strict=True)], np.int32)
    cv2.polylines(left, [pts], False, (0, 0, 200), 2)
    cv2.putText(
        left,
        f"map: {score_map.method}",
        (_MARGIN + 6, _MARGIN + 18),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.45,
        (0, 0, 200),
        1,
    )
    right, to_px = _panel(f"reliability ({len(samples)} detections)", "calibrated score", (0.0, 1.0))
    cv2.line(right, to_px(0, 0), to_px(1, 1), (160, 160, 160), 1)
    for x, y, n in reliability(samples, score_map):
        radius = int(np.clip(np.sqrt(n) / 3, 2, 14))
        cv2.circle(right, to_px(x, y), radius, (0, 140, 0), -1)
    brier = ", ".join(f"{m} {v:.4f}" for m, v in calibration.brier.items())
    cv2.putText(
        right,
        f"unseen-sequence Brier: {brier}",
        (_MARGIN, _SIZE + _MARGIN + 22 + 24),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.38,
        (0, 0, 0),
        1,
    )
    return np.hstack([left, right])


def write_reliability_plots(
    calibrations: list[ScoreCalibration], detector: str, folder: str | Path
) -> list[Path]:
    """One PNG per class, ``FOLDER/<detector>_<class>.png``; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for cal in calibrations:
        path = folder / f"{Path(detector).name}_{cal.cls}.png"
        tmp = path.with_name(f".{path.stem}.part.png")
        if not cv2.imwrite(str(tmp), reliability_plot(cal, detector)):
            raise OSError(f"could not write {path}")
        tmp.replace(path)
        paths.append(path)
    return paths
