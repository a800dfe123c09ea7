"""Prediction benchmark of the motion models on ground-truth trajectories (``track eval-motion``).

Samples: every frame t of every ground-truth track (Car, Van, Truck, Pedestrian, Person_sitting,
Person, Cyclist) with boxes at t-3..t and at t+h. Each model sees only the track's boxes up to t (all of
them for the Kalman filter, the last ``HISTORY_LEN`` for the LSTM) and predicts the box at t+h.
Scores per horizon: mean centre error in pixels and in heights of the true box at t+h, and mean
IoU of predicted and true boxes; over all samples and per class (car: Car, Van, Truck;
pedestrian: Pedestrian, Person_sitting, Person; cyclist), since a pedestrian moves unlike a car.

For the models that predict their own uncertainty, ``coverage_1sigma``: the share of the true
box's coordinates (centre x, y, width, height) within the predicted 1-sigma spread (0.683 is
calibrated). The Kalman filter's is its innovation standard deviation (predicted state plus
measurement noise); the LSTM's is its learned 68.3 % interval (``MotionLSTM``). On ground-truth
histories, cleaner than the detections a tracker feeds the LSTM, its spread covers more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..associate import iou_matrix
from ..config import MotionConfig
from ..formats import KITTI_CLASSES
from ..motion.kalman import KalmanBoxModel
from ..motion.lstm import LSTMPredictor
from ..motion.trajectories import (
    MIN_HISTORY,
    MOTION_CLASS,
    Samples,
    Trajectory,
    kitti_trajectories,
    make_samples,
)
from .datasets import load_kitti

MODELS = ("kalman", "lstm", "hybrid")


def kalman_predictions(
    trajectories: Sequence[Trajectory], samples: Samples, config: MotionConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(S, H, 4) boxes from the constant-velocity Kalman filter run over each track up to t,
    and (S, H, 4) their standard deviations of centre x, y, width and height (pixels)."""
    model = KalmanBoxModel(config)
    wanted: dict[int, list[int]] = {}
    for row, (j, _) in enumerate(samples.origin):
        wanted.setdefault(int(j), []).append(row)
    out = np.zeros(samples.future.shape)
    spread = np.zeros(samples.future.shape)
    for j, rows in wanted.items():
        means, covs = _filter_states(model, trajectories[j])
        at = samples.origin[rows, 1]
        for k, ahead in enumerate(samples.horizons_s):
            mean, cov = model.predict(means[at], covs[at], float(ahead))
            out[rows, k] = model.boxes(mean)
            spread[rows, k] = np.sqrt(cov[:, 0] + model.measurement_noise(mean))
    return out, spread


def detected_trajectories(
    root: str | Path, detections: str, truths: Sequence[Trajectory], min_iou: float = 0.5
) -> tuple[list[Trajectory], list[Trajectory]]:
    """The detections of ``root/detections`` that follow each ground-truth trajectory of
    ``truths``, paired with it: ``(detected, truth)`` lists, one pair per trajectory with at
    least MIN_HISTORY + 1 detected frames.

    Per frame, detections of a trajectory's class are matched one-to-one to the ground-truth
    boxes by IoU (Hungarian, at least ``min_iou``): what a tracker that never switched would
    hold, with the detector's own jitter, misses and gaps. Trained on these, the model reads the
    inputs it will read in the tracker and predicts where the object truly goes.
    """
    det_class = np.array([MOTION_CLASS.get(c, "") for c in KITTI_CLASSES], object)
    sequences = {s.name: s for s in load_kitti(root, detections).sequences}
    by_seq: dict[str, list[int]] = {}
    for j, tr in enumerate(truths):
        by_seq.setdefault(tr.name.split(":")[0], []).append(j)
    matched: dict[int, list[tuple[int, np.ndarray]]] = {}
    for seq, members in by_seq.items():
        frames = sequences[seq].frames
        rows: dict[int, list[tuple[int, np.ndarray]]] = {}  # frame -> (trajectory, box)
        for j in members:
            for f, box in zip(truths[j].frame.tolist(), truths[j].xyxy, strict=True):
                rows.setdefault(f, []).append((j, box))
        for f, items in rows.items():
            if f >= len(frames) or len(frames[f]) == 0:
                continue
            dets = frames[f]
            gt_box = np.array([b for _, b in items])
            iou = iou_matrix(gt_box, dets.xyxy)
            same = (
                np.array([truths[j].cls for j, _ in items], object)[:, None] == det_class[dets.class_id][None]
            )
            iou = np.where(same, iou, 0.0)
            r, c = linear_sum_assignment(-iou)
            for a, b in zip(r, c, strict=True):
                if iou[a, b] >= min_iou:
                    matched.setdefault(items[a][0], []).append((f, dets.xyxy[b].astype(np.float64)))
    detected, paired = [], []
    for j, found in sorted(matched.items()):
        if len(found) <= MIN_HISTORY:
            continue
        found.sort(key=lambda x: x[0])
        frame = np.array([f for f, _ in found])
        tr = truths[j]
        time_s = tr.time_s[np.searchsorted(tr.frame, frame)]  # matched frames are the truth's
        detected.append(replace(tr, frame=frame, time_s=time_s, xyxy=np.array([b for _, b in found])))
        paired.append(tr)
    return detected, paired


def _filter_states(model: KalmanBoxModel, tr: Trajectory) -> tuple[np.ndarray, np.ndarray]:
    """The filtered state means (T, D) and covariances after each box of the trajectory."""
    mean, cov = model.initiate(tr.xyxy[:1])
    means = np.zeros((len(tr.frame), *mean.shape[1:]))
    covs = np.zeros((len(tr.frame), *cov.shape[1:]))
    means[0], covs[0] = mean[0], cov[0]
    for i in range(1, len(tr.frame)):
        mean, cov = model.predict(mean, cov, float(tr.time_s[i] - tr.time_s[i - 1]))
        mean, cov = model.update(mean, cov, tr.xyxy[i : i + 1])
        means[i], covs[i] = mean[0], cov[0]
    return means, covs


def _centre_size(xyxy: np.ndarray) -> np.ndarray:
    wh = np.maximum(xyxy[..., 2:4] - xyxy[..., 0:2], 1.0)
    return np.concatenate([(xyxy[..., 0:2] + xyxy[..., 2:4]) / 2, wh], axis=-1)


def within_spread(pred: np.ndarray, spread: np.ndarray, true: np.ndarray, log_size: bool) -> np.ndarray:
    """(S, H) share of the four coordinates (centre x, y, width, height) of the true boxes
    within ``spread`` of the predicted ones: sizes compared as log ratios when ``log_size``
    (the LSTM's spreads), in pixels otherwise (the Kalman filter's)."""
    p, t = _centre_size(pred), _centre_size(true)
    err = np.abs(t - p)
    if log_size:
        err[..., 2:4] = np.abs(np.log(t[..., 2:4] / p[..., 2:4]))
    return (err <= spread).mean(axis=-1)


def score(
    pred: np.ndarray, samples: Samples, rows: np.ndarray | None = None, inside: np.ndarray | None = None
) -> dict[str, dict[str, float]]:
    """Per horizon (keyed by its index into ``samples.horizons_s``): centre error (px and
    relative to the true box height), IoU and, given ``inside`` (``within_spread``), the
    coverage of the predicted spread, over the samples that have that future box (and are in
    ``rows``, a boolean mask, when given)."""
    out = {}
    for k in range(len(samples.horizons_s)):
        m = samples.has_future[:, k] if rows is None else samples.has_future[:, k] & rows
        if not m.any():
            continue
        p, t = pred[m, k], samples.future[m, k]
        err = np.linalg.norm((p[:, :2] + p[:, 2:]) / 2 - (t[:, :2] + t[:, 2:]) / 2, axis=1)
        height = np.maximum(t[:, 3] - t[:, 1], 1.0)
        iou = _paired_iou(p, t)
        out[str(k)] = {
            "center_err_px": float(err.mean()),
            "center_err_rel": float((err / height).mean()),
            "iou": float(iou.mean()),
            "samples": int(m.sum()),
        }
        if inside is not None:
            out[str(k)]["coverage_1sigma"] = float(inside[m, k].mean())
    return out


def _paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of a[i] and b[i] for every row."""
    wh = np.clip(np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2]), 0, None)
    inter = wh[:, 0] * wh[:, 1]
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def hybrid_predictions(kalman: np.ndarray, lstm: np.ndarray, samples: Samples) -> np.ndarray:
    """The hybrid model's boxes: see ``tracker.motion.HybridBoxModel`` for the rule."""
    from ..motion import hybrid_weight

    w = hybrid_weight(np.asarray(samples.horizons_s))[None, :, None]
    return w * lstm + (1 - w) * kalman


def evaluate_motion(
    data: str | Path,
    horizons: Sequence[int],
    fps: float = 10.0,
    config: MotionConfig | None = None,
    weights: str | Path | None = None,
    detections: str | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """``{model: {horizon_frames: {center_err_px, center_err_rel, iou, samples,
    [coverage_1sigma,] per_class: {class: {the same}}}}}``.

    With ``detections`` (a detection folder of ``data``) the models read the detections matched
    to each ground-truth track (``detected_trajectories``: the boxes a tracker would hold) and
    are scored against the ground truth: the inputs they meet in tracking."""
    trajectories = kitti_trajectories(data, fps)
    truths = None
    if detections:
        trajectories, truths = detected_trajectories(data, detections, trajectories)
    samples = make_samples(trajectories, [h / fps for h in horizons], truths=truths)
    kalman, kalman_spread = kalman_predictions(trajectories, samples, config or MotionConfig())
    predictor = LSTMPredictor(weights)
    ahead = np.asarray(samples.horizons_s)
    inside = {"kalman": within_spread(kalman, kalman_spread, samples.future, log_size=False)}
    if predictor.has_spread:
        lstm, spread = predictor.predict_with_spread(samples.histories, ahead)
        inside["lstm"] = within_spread(lstm, spread, samples.future, log_size=True)
    else:
        lstm = predictor.predict(samples.histories, ahead)
    predictions = {"kalman": kalman, "lstm": lstm, "hybrid": hybrid_predictions(kalman, lstm, samples)}
    sample_class = np.array([trajectories[j].cls for j in samples.origin[:, 0]], object)
    classes = [c for c in ("car", "pedestrian", "cyclist") if (sample_class == c).any()]
    results = {}
    for name, pred in predictions.items():
        per = score(pred, samples, inside=inside.get(name))
        by_class = {c: score(pred, samples, sample_class == c, inside.get(name)) for c in classes}
        results[name] = {
            str(h): {
                **per[str(k)],
                "per_class": {c: v[str(k)] for c, v in by_class.items() if str(k) in v},
            }
            for k, h in enumerate(horizons)
            if str(k) in per
        }
    return results


def scores_json(results: dict) -> dict:
    """The documented JSON layout of ``track eval-motion --json``: per model and horizon the
    centre error (pixels, box heights) and IoU, the coverage of the predicted spread for the
    models that predict one, and the same per class (``per_class``) with the number of
    samples behind each."""
    keys = ("center_err_px", "center_err_rel", "iou", "coverage_1sigma")

    def one(v: dict) -> dict:
        return {k: v[k] for k in keys if k in v}

    return {
        m: {
            h: {
                **one(v),
                "per_class": {c: {**one(cv), "samples": cv["samples"]} for c, cv in v["per_class"].items()},
            }
            for h, v in per.items()
        }
        for m, per in results.items()
    }
