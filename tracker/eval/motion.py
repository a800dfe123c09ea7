"""Prediction benchmark of the motion models on ground-truth trajectories (``track eval-motion``).

Samples: every frame t of every ground-truth track (Car, Van, Truck, Pedestrian, Person_sitting,
Person, Cyclist) with boxes at t-3..t and at t+h. Each model sees only the track's boxes up to t (all of
them for the Kalman filter, the last ``HISTORY_LEN`` for the LSTM) and predicts the box at t+h.
Scores per horizon: mean centre error in pixels and in heights of the true box at t+h, and mean
IoU of predicted and true boxes; over all samples and per class (car: Car, Van, Truck;
pedestrian: Pedestrian, Person_sitting, Person; cyclist), since a pedestrian moves unlike a car.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..config import MotionConfig
from ..motion.kalman import KalmanBoxModel
from ..motion.lstm import LSTMPredictor
from ..motion.trajectories import Samples, Trajectory, kitti_trajectories, make_samples

MODELS = ("kalman", "lstm", "hybrid")


def kalman_predictions(
    trajectories: Sequence[Trajectory], samples: Samples, config: MotionConfig
) -> np.ndarray:
    """(S, H, 4) boxes from the constant-velocity Kalman filter run over each track up to t."""
    model = KalmanBoxModel(config)
    wanted: dict[int, list[int]] = {}
    for row, (j, _) in enumerate(samples.origin):
        wanted.setdefault(int(j), []).append(row)
    horizons = np.asarray(samples.horizons_s)
    out = np.zeros(samples.future.shape)
    for j, rows in wanted.items():
        tr = trajectories[j]
        states = _filter_states(model, tr)
        means = states[samples.origin[rows, 1]]
        centre_size = means[:, None, :4] + means[:, None, 4:] * horizons[None, :, None]
        centre_size[..., 2:4] = np.maximum(centre_size[..., 2:4], 1.0)
        half = centre_size[..., 2:4] / 2
        out[rows] = np.concatenate([centre_size[..., :2] - half, centre_size[..., :2] + half], axis=-1)
    return out


def _filter_states(model: KalmanBoxModel, tr: Trajectory) -> np.ndarray:
    """(T, 8) filtered state after each box of the trajectory."""
    mean, cov = model.initiate(tr.xyxy[:1])
    states = np.zeros((len(tr.frame), mean.shape[1]))
    states[0] = mean[0]
    for i in range(1, len(tr.frame)):
        mean, cov = model.predict(mean, cov, float(tr.time_s[i] - tr.time_s[i - 1]))
        mean, cov = model.update(mean, cov, tr.xyxy[i : i + 1])
        states[i] = mean[0]
    return states


def score(pred: np.ndarray, samples: Samples, rows: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """Per horizon (keyed by its index into ``samples.horizons_s``): centre error (px and
    relative to the true box height) and IoU, over the samples that have that future box
    (and are in ``rows``, a boolean mask, when given)."""
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
) -> dict[str, dict[str, dict[str, float]]]:
    """``{model: {horizon_frames: {center_err_px, center_err_rel, iou, samples, per_class:
    {class: {the same four}}}}}``."""
    trajectories = kitti_trajectories(data, fps)
    samples = make_samples(trajectories, [h / fps for h in horizons])
    kalman = kalman_predictions(trajectories, samples, config or MotionConfig())
    lstm = LSTMPredictor(weights).predict(samples.histories, np.asarray(samples.horizons_s))
    predictions = {"kalman": kalman, "lstm": lstm, "hybrid": hybrid_predictions(kalman, lstm, samples)}
    sample_class = np.array([trajectories[j].cls for j in samples.origin[:, 0]], object)
    classes = [c for c in ("car", "pedestrian", "cyclist") if (sample_class == c).any()]
    results = {}
    for name, pred in predictions.items():
        per = score(pred, samples)
        by_class = {c: score(pred, samples, sample_class == c) for c in classes}
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
    centre error (pixels, box heights) and IoU, and the same per class (``per_class``) with
    the number of samples behind each."""
    keys = ("center_err_px", "center_err_rel", "iou")

    def one(v: dict) -> dict:
        return {k: v[k] for k in keys}

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
