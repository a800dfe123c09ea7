"""Prediction across real detector gaps: the regime of lost tracks.

    python benchmarks/motion_gaps.py [--data ../shared/data/kitti] [--detections det_rrc ...]
        [--weights FILE] [--json FILE]

For every ground-truth track, the detector's boxes matched to it (``detected_trajectories``);
wherever the detector misses the object for a frame or more, each model predicts, from the
boxes up to the last detection, the box at the first detection after the gap: the Kalman filter
(run over the matched boxes, size held while lost, as the tracker does) and the LSTM. Reported
per class: the mean IoU of each prediction with that next detection and with the true box, the
share of gaps where the IoU reaches 0.5, and the share where the LSTM's is the higher.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.config import load_config  # noqa: E402
from tracker.eval.motion import _filter_states, _paired_iou, detected_trajectories  # noqa: E402
from tracker.motion.kalman import KalmanBoxModel  # noqa: E402
from tracker.motion.lstm import LSTMPredictor  # noqa: E402
from tracker.motion.trajectories import Histories, kitti_trajectories, select_history  # noqa: E402


def gap_predictions(data: Path, detections: str, kalman: KalmanBoxModel, lstm: LSTMPredictor):
    """Per gap: class, Kalman box, LSTM box, next detection, true box."""
    truths = kitti_trajectories(data)
    rows = []
    for tr, gt in zip(*detected_trajectories(data, detections, truths), strict=True):
        means, covs = _filter_states(kalman, tr)
        for i in range(3, len(tr.frame) - 1):
            if tr.frame[i + 1] - tr.frame[i] < 2:
                continue
            picked = select_history(tr.time_s, i + 1, i)
            history = Histories.from_lists([tr.xyxy[picked]], [tr.time_s[picked]], [tr.image_size], [tr.cls])
            ahead = float(tr.time_s[i + 1] - tr.time_s[i])
            mean = kalman.freeze_size(means[i : i + 1].copy(), np.array([True]))
            k_box = kalman.boxes(kalman.predict(mean, covs[i : i + 1], ahead)[0])[0]
            l_box = lstm.predict(history, np.array([ahead]))[0, 0]
            true = gt.xyxy[np.flatnonzero(gt.frame == tr.frame[i + 1])[0]]
            rows.append((gt.cls, k_box, l_box, tr.xyxy[i + 1], true))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "kitti")
    parser.add_argument("--detections", nargs="+", default=["det_rrc", "det_pointrcnn"])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "kitti_rrc.yaml")
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    kalman = KalmanBoxModel(load_config(args.config).tracker.motion)
    lstm = LSTMPredictor(args.weights)
    result: dict = {}
    for folder in args.detections:
        rows = gap_predictions(args.data, folder, kalman, lstm)
        for cls in ("car", "pedestrian", "cyclist"):
            mine = [r for r in rows if r[0] == cls]
            if not mine:
                continue
            k, m, nxt, true = (np.array([r[j] for r in mine]) for j in range(1, 5))
            ik, il = _paired_iou(k, nxt), _paired_iou(m, nxt)
            scores = {
                "gaps": len(mine),
                "iou_next_kalman": round(float(ik.mean()), 3),
                "iou_next_lstm": round(float(il.mean()), 3),
                "iou_true_kalman": round(float(_paired_iou(k, true).mean()), 3),
                "iou_true_lstm": round(float(_paired_iou(m, true).mean()), 3),
                "hit_kalman": round(float((ik >= 0.5).mean()), 3),
                "hit_lstm": round(float((il >= 0.5).mean()), 3),
                "lstm_better": round(float((il > ik).mean()), 3),
            }
            result.setdefault(folder, {})[cls] = scores
            print(
                f"{folder:<14}{cls:<11}{len(mine):5d} gaps  IoU with the next detection: Kalman "
                f"{scores['iou_next_kalman']:.3f}, LSTM {scores['iou_next_lstm']:.3f}; with the truth "
                f"{scores['iou_true_kalman']:.3f} / {scores['iou_true_lstm']:.3f}; IoU >= 0.5 "
                f"{scores['hit_kalman']:.2f} / {scores['hit_lstm']:.2f}; "
                f"LSTM higher {scores['lstm_better']:.2f}"
            )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
