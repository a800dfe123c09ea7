"""What a track's own boxes can tell of its future: baselines beside the Kalman filter and LSTM.

    python benchmarks/motion_floor.py [--data ../shared/data/kitti] [--horizons 1,5,10]
        [--weights FILE] [--json FILE]

On the ground-truth tracks of a KITTI folder, with the samples of ``track eval-motion`` (every
time t with boxes at t-3..t and a true box at t+h), the mean centre error in pixels per class
and horizon of:

- ``kalman`` and ``lstm``, as ``track eval-motion`` scores them;
- ``line K``: a least-squares line through the last K boxes of the history the LSTM reads
  (K = 2 ... 10): the constant-velocity predictors, from the most reactive to the smoothest;
- ``lstm base path``: the path the LSTM's head corrects, alone (``MotionLSTM.base_path``; for
  the shipped weights, steady motion relative to a pinhole camera fitted to the history), and
  ``lstm, whole head``: the network with all of its head's correction, whatever its class's
  measured ``head_share`` (``lstm`` keeps that share);
- ``present velocity known``: an oracle that knows where the object is at t and how fast it
  moves then, from a line through its true boxes at t-2..t+2 (two of them in the future), and
  goes on in a straight line. Beyond two frames ahead its error is what the next second's
  changes of speed and direction add; a predictor that reads the past boxes can beat it only by
  foreseeing those changes. One and two frames ahead the line has seen the box it predicts.
- ``kalman, shared motion removed``: the Kalman filter's error less, in each frame, the mean
  error of the other objects of its class there (at least two others): another oracle, for the
  motion that all objects of a frame share (the camera's turn or pitch, a crowd's drift). Worse
  than the Kalman filter where objects move each on their own.

The rows are scored on ``track eval-motion``'s samples (its figures for the two models), each
oracle on those of them it can score (the first: the track has every box of t-2..t+2; the
second: at least two others of the class in the frame), printed with the Kalman filter's error
on the same samples. Each row gives its ratio to the Kalman filter's error at the longest
horizon, on the same samples. The classes come one by one, then together ("all"): ``lstm,
whole head`` there is the network as trained, with nothing measured on the folder's tracks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from tracker.config import MotionConfig  # noqa: E402
from tracker.eval.motion import kalman_predictions  # noqa: E402
from tracker.motion.lstm import LSTMPredictor  # noqa: E402
from tracker.motion.trajectories import (  # noqa: E402
    FUTURE_STEPS,
    Histories,
    Samples,
    boxes_from_targets,
    history_features,
    interpolate_steps,
    kitti_trajectories,
    make_samples,
)

CLASSES = ("car", "pedestrian", "cyclist")
MIN_OTHERS = 2


def line_fit_centres(samples: Samples, boxes: int) -> np.ndarray:
    """(S, H, 2) centres from a least-squares line through the last ``boxes`` valid boxes of
    each history, at each horizon."""
    h = samples.histories
    centre = (h.xyxy[:, -boxes:, 0:2] + h.xyxy[:, -boxes:, 2:4]) / 2
    t, w = h.dt[:, -boxes:], h.valid[:, -boxes:].astype(np.float64)
    n = np.maximum(w.sum(1), 1.0)
    t_mean = (w * t).sum(1) / n
    c_mean = (w[..., None] * centre).sum(1) / n[:, None]
    dt = t - t_mean[:, None]
    velocity = (w[..., None] * dt[..., None] * (centre - c_mean[:, None])).sum(1)
    velocity /= np.maximum((w * dt * dt).sum(1), 1e-9)[:, None]
    ahead = np.asarray(samples.horizons_s)
    return c_mean[:, None] + velocity[:, None] * (ahead[None, :, None] - t_mean[:, None, None])


def network_centres(predictor: LSTMPredictor, histories: Histories, ahead_s: np.ndarray) -> dict:
    """(S, H, 2) centres of the LSTM's base path alone and of the network with its whole head."""
    steps, glob = history_features(histories)
    with torch.inference_mode():
        boxes, base, _ = predictor.model.forward_paths(torch.from_numpy(steps), torch.from_numpy(glob))
    out = {}
    for name, rel in (("lstm base path", base), ("lstm, whole head", boxes)):
        targets = np.zeros((len(histories), FUTURE_STEPS + 1, 4))
        targets[:, 1:] = rel.numpy()
        path = interpolate_steps(boxes_from_targets(histories.xyxy[:, -1], targets), ahead_s)
        out[name] = (path[..., 0:2] + path[..., 2:4]) / 2
    return out


def present_velocity_centres(trajectories, samples: Samples, half: int = 2) -> np.ndarray:
    """(S, H, 2) centres from the true position and velocity at t: a least-squares line through
    the true boxes within ``half`` frames of t (future ones included), extrapolated; NaN where
    the track lacks one of those boxes."""
    ahead = np.asarray(samples.horizons_s)
    out = np.full(samples.future.shape[:2] + (2,), np.nan)
    for row, (j, i) in enumerate(samples.origin):
        tr = trajectories[j]
        near = np.abs(tr.frame - tr.frame[i]) <= half
        if near.sum() < 2 * half + 1:  # every box of t-half..t+half, or no oracle
            continue
        t = tr.time_s[near] - tr.time_s[i]
        centre = (tr.xyxy[near, 0:2] + tr.xyxy[near, 2:4]) / 2
        velocity, at_t = np.polynomial.polynomial.polyfit(t, centre, 1)[::-1]
        out[row] = at_t[None] + velocity[None] * ahead[:, None]
    return out


def shared_motion_removed(error: np.ndarray, has: np.ndarray, group: np.ndarray) -> np.ndarray:
    """(S, 2) errors less the mean error of the other samples of the same ``group`` (frame and
    class) that have this horizon; NaN where fewer than MIN_OTHERS others have it."""
    out = np.full_like(error, np.nan)
    keys, inverse = np.unique(group[has], return_inverse=True)
    rows = np.flatnonzero(has)
    total = np.zeros((len(keys), 2))
    np.add.at(total, inverse, error[rows])
    count = np.bincount(inverse, minlength=len(keys))
    others = count[inverse] - 1
    ok = others >= MIN_OTHERS
    mean_others = (total[inverse] - error[rows]) / np.maximum(others, 1)[:, None]
    out[rows[ok]] = error[rows[ok]] - mean_others[ok]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "kitti")
    parser.add_argument("--horizons", default="1,5,10", help="Frames ahead, comma separated.")
    parser.add_argument("--weights", type=Path, help="LSTM weights (default: the shipped ones).")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    horizons = [int(h) for h in args.horizons.split(",")]

    trajectories = kitti_trajectories(args.data)
    samples = make_samples(trajectories, [h / 10.0 for h in horizons])
    cls = np.array([trajectories[j].cls for j in samples.origin[:, 0]])
    # Trajectory names are SEQUENCE:ID: a frame is the sequence and the frame number.
    frame = np.array(
        [f"{trajectories[j].name.split(':')[0]}/{trajectories[j].frame[i]}" for j, i in samples.origin]
    )
    group = np.char.add(np.char.add(frame, ":"), cls)
    truth = (samples.future[..., 0:2] + samples.future[..., 2:4]) / 2
    kalman_boxes, _ = kalman_predictions(trajectories, samples, MotionConfig())
    predictor = LSTMPredictor(args.weights)
    lstm_boxes = predictor.predict(samples.histories, np.asarray(samples.horizons_s))
    centres = {
        "kalman": (kalman_boxes[..., 0:2] + kalman_boxes[..., 2:4]) / 2,
        "lstm": (lstm_boxes[..., 0:2] + lstm_boxes[..., 2:4]) / 2,
        **network_centres(predictor, samples.histories, np.asarray(samples.horizons_s)),
    }
    for k in (2, 3, 4, 6, 8, 10):
        centres[f"line {k}"] = line_fit_centres(samples, k)

    errors = {name: np.linalg.norm(c - truth, axis=-1) for name, c in centres.items()}
    # The oracles, each where it can be scored (NaN elsewhere).
    oracles = {"present velocity known": present_velocity_centres(trajectories, samples)}
    oracles = {name: np.linalg.norm(c - truth, axis=-1) for name, c in oracles.items()}
    shared = np.full(errors["kalman"].shape, np.nan)
    kalman_error = centres["kalman"] - truth
    for k in range(len(horizons)):
        removed = shared_motion_removed(kalman_error[:, k], samples.has_future[:, k], group)
        shared[:, k] = np.linalg.norm(removed, axis=-1)
    oracles["kalman, shared motion removed"] = shared

    def means(error: np.ndarray, masks: list[np.ndarray]) -> list[float | None]:
        return [round(float(error[m, k].mean()), 2) if m.any() else None for k, m in enumerate(masks)]

    def line(name: str, values: list, base: list) -> None:
        last = len(values) - 1
        ratio = f"{values[last] / base[last]:.2f}x" if base[last] and values[last] is not None else "-"
        cells = " / ".join("     -" if v is None else f"{v:6.2f}" for v in values)
        print(f"  {name:32s} {cells}   {ratio}")

    result: dict = {"data": str(args.data), "horizons": horizons, "per_class": {}}
    # The three classes, then all of them together (``track eval-motion``'s "all").
    groups = {name: cls == name for name in CLASSES} | {"all": np.isin(cls, CLASSES)}
    for c, of_class in groups.items():
        rows = [of_class & samples.has_future[:, k] for k in range(len(horizons))]
        if not any(m.any() for m in rows):
            continue
        table = {name: means(e, rows) for name, e in errors.items()}
        counts = [int(m.sum()) for m in rows]
        print(f"{c}: samples {counts}")
        for name, values in table.items():
            line(name, values, table["kalman"])
        result["per_class"][c] = {"samples": counts, "center_err_px": table, "oracles": {}}
        for name, error in oracles.items():
            subset = [m & np.isfinite(error[:, k]) for k, m in enumerate(rows)]
            oracle = {
                "center_err_px": means(error, subset),
                "kalman_same_samples": means(errors["kalman"], subset),
                "samples": [int(m.sum()) for m in subset],
            }
            result["per_class"][c]["oracles"][name] = oracle
            if any(oracle["samples"]):
                line(name, oracle["center_err_px"], oracle["kalman_same_samples"])
                print(f"    on {oracle['samples']} samples; Kalman there {oracle['kalman_same_samples']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
