"""Kalman filter whose predictions come from the LSTM (``motion.kind: lstm`` and ``hybrid``).

The Kalman filter still carries every track's state and uncertainty, and fuses each new
detection; only the predicted box changes. For a track with at least ``MIN_HISTORY`` recent
boxes, the LSTM predicts the box at the current time from the track's *observed* boxes, however
long ago the last one was, so a lost track is carried through an occlusion by the learned
motion rather than by a straight line. Tracks with a shorter history use the Kalman filter.

- ``lstm``: the LSTM's box replaces the Kalman prediction.
- ``hybrid``: the Kalman prediction one frame after a detection (where it is already good and
  smooth), the LSTM's from ``hybrid_weight`` on: a blend that turns fully learned by 0.3 s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..config import MotionConfig
from .kalman import PP, KalmanBoxModel, cxcywh_to_xyxy, xyxy_to_cxcywh

if TYPE_CHECKING:
    from .lstm import LSTMPredictor
from .trajectories import FUTURE_STEPS, STEP_S, histories_from_rings, interpolate_steps, usable_rings

SPREAD = 3  # row of ``cov`` holding the learned prediction's centre variance


# The hybrid's share of the LSTM is zero up to this many seconds after a track's last box.
HYBRID_FROM_S = 0.1


def hybrid_weight(ahead_s: np.ndarray) -> np.ndarray:
    """Share of the LSTM in the hybrid prediction ``ahead_s`` seconds after the last box."""
    return np.clip((np.asarray(ahead_s, np.float64) - HYBRID_FROM_S) / 0.2, 0.0, 1.0)


class TrackHistory:
    """Ring buffers of the observed boxes of N tracks, as the tracker keeps them; ``ids`` (N,)
    names the tracks (learned models then reuse a prediction while a track's boxes are
    unchanged)."""

    def __init__(
        self, xyxy: np.ndarray, time_s: np.ndarray, count: np.ndarray, ids: np.ndarray | None = None
    ) -> None:
        self.xyxy, self.time_s, self.count, self.ids = xyxy, time_s, count, ids

    def newest(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The newest box (r, 4) of ``rows`` and its time (r,)."""
        last = (self.count[rows] - 1) % self.time_s.shape[1]
        return self.xyxy[rows, last].astype(np.float64), self.time_s[rows, last]


class LearnedBoxModel(KalmanBoxModel):
    """The ``lstm`` and ``hybrid`` motion models (see the module docstring).

    A lost track's observed boxes do not change while it is lost, and neither does the
    network's answer for them (relative to its newest box, so a camera shift does not change it
    either; the small roll a driving camera adds is ignored): it is computed once and reused,
    keyed by track id and box count. With ``hybrid``, tracks seen in the previous frame take
    the Kalman prediction alone, so the network runs only when a track has just been missed.
    Wherever the LSTM serves a track (with ``lstm``: every track with a long enough history)
    it also sets the state's rates to those of its predicted path.
    """

    def __init__(self, config: MotionConfig, predictor: LSTMPredictor | None = None) -> None:
        super().__init__(config)
        if predictor is None:
            from .lstm import LSTMPredictor  # torch is imported only when a learned model is used

            predictor = LSTMPredictor(config.weights or None)
        self.predictor = predictor
        self._frame_dt = STEP_S
        # track id -> (box count, stride, relative targets and spreads (FUTURE_STEPS + 1, 4))
        self._memo: dict[int, tuple[int, int, np.ndarray, np.ndarray | None]] = {}

    def _stride(self, dt: float) -> int:
        if dt > 0:  # a running estimate of the frame period
            self._frame_dt = 0.9 * self._frame_dt + 0.1 * dt
        return max(1, int(round(STEP_S / self._frame_dt)))

    def predict(
        self,
        mean: np.ndarray,
        cov: np.ndarray,
        dt: float,
        history: TrackHistory | None = None,
        now_s: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The Kalman prediction, with the LSTM's box and rates for the tracks it serves; where
        the network predicts its spread, that spread (squared) is those tracks' centre variance
        for the gate (``centre_std``; the Kalman update keeps its own covariance)."""
        stride = self._stride(dt)  # every frame: the frame-period estimate must follow the source
        kalman_cov = cov[:, :SPREAD]
        mean, kalman_cov = super().predict(mean, kalman_cov, dt)
        cov = np.concatenate([kalman_cov, np.zeros_like(kalman_cov[:, :1])], axis=1)
        if history is None or now_s is None or len(mean) == 0:
            return mean, cov
        rows = np.arange(len(mean))
        newest, last_s = history.newest(rows)
        if self.config.kind == "hybrid":
            # Times are sums of frame periods: 0.1 s after the last box may read 0.1 + 1e-16.
            rows = rows[now_s - last_s > HYBRID_FROM_S + 1e-6]
            if len(rows) == 0:  # every track was seen in the previous frame
                return mean, cov
        step_boxes, step_spread, rows, last_s = self._step_boxes(history, stride, rows, newest, last_s)
        if len(rows) == 0:
            return mean, cov
        ahead = (now_s - last_s)[:, None]
        # The box and its rates there: the Kalman filter then goes on from the learned motion,
        # and a detection after the gap corrects that, not a velocity the gap has made stale.
        steps = step_boxes if step_spread is None else np.concatenate([step_boxes, step_spread], axis=-1)
        pair = interpolate_steps(steps, np.concatenate([ahead, ahead + STEP_S], axis=1))
        learned = xyxy_to_cxcywh(pair[:, 0, :4])
        rate = (xyxy_to_cxcywh(pair[:, 1, :4]) - learned) / STEP_S
        var = None if step_spread is None else pair[:, 0, 4:6] ** 2
        if self.config.kind == "hybrid":
            w = hybrid_weight(ahead[:, 0])[:, None]
            learned = w * learned + (1 - w) * mean[rows, :4]
            rate = w * rate + (1 - w) * mean[rows, 4:8]
            if var is not None:
                var = w * var + (1 - w) * cov[rows, PP, 0:2]
        mean[rows, 4:8] = rate
        mean[rows, :4] = learned
        np.maximum(mean[:, 2:4], 1.0, out=mean[:, 2:4])
        if var is not None:
            cov[rows, SPREAD, 0:2] = var
        return mean, cov

    # The state is the Kalman filter's, with one more row of ``cov``: the centre variance of
    # the learned prediction (zero where the Kalman filter's serves). It feeds the gate only;
    # the Kalman update keeps its own covariance, which the LSTM's spread would make
    # inconsistent with the velocity terms it leaves alone (measured: many more switches).

    def initiate(self, xyxy: np.ndarray, velocity: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        mean, cov = super().initiate(xyxy, velocity)
        return mean, np.concatenate([cov, np.zeros_like(cov[:, :1])], axis=1)

    def update(self, mean: np.ndarray, cov: np.ndarray, xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, kalman_cov = super().update(mean, cov[:, :SPREAD], xyxy)
        return mean, np.concatenate([kalman_cov, np.zeros_like(kalman_cov[:, :1])], axis=1)

    def centre_std(self, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
        """The learned prediction's own spread where it serves, the Kalman filter's elsewhere
        (both with the detector's noise)."""
        learned = cov[:, SPREAD, 0:2]
        var = np.where(learned > 0, learned, cov[:, PP, 0:2])
        return np.sqrt(var + self.measurement_noise(mean)[:, 0:2])

    def _step_boxes(
        self,
        history: TrackHistory,
        stride: int,
        rows: np.ndarray | None = None,
        newest: np.ndarray | None = None,
        newest_s: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
        """LSTM boxes at steps of STEP_S after the last box of each usable track of ``rows``
        (default: all), read every ``stride``-th box back, their spreads (pixels for the
        centre; None when the weights predict none), those tracks' rows and the time of their
        last box. ``newest``, ``newest_s``: every track's newest box and its time, when the
        caller has them (``TrackHistory.newest`` of all rows)."""
        spread = self.predictor.has_spread
        if rows is None:
            rows = np.arange(len(history.count))
        rows = rows[usable_rings(history.count[rows], history.time_s.shape[1], stride)]
        shape = (len(rows), FUTURE_STEPS + 1, 4)
        if len(rows) == 0:
            return np.zeros(shape), (np.zeros(shape) if spread else None), rows, np.zeros(0)
        targets = np.empty(shape)
        spreads = np.empty(shape) if spread else None
        todo = np.ones(len(rows), bool)
        ids = None if history.ids is None else history.ids[rows].tolist()
        counts = history.count[rows].tolist()
        if ids is not None:
            for i, (key, count) in enumerate(zip(ids, counts, strict=True)):
                hit = self._memo.get(key)
                if hit is not None and hit[0] == count and hit[1] == stride:
                    targets[i] = hit[2]
                    if spreads is not None:
                        spreads[i] = hit[3]
                    todo[i] = False
        need = rows[todo]
        if len(need):
            histories, _ = histories_from_rings(
                history.xyxy[need], history.time_s[need], history.count[need], stride
            )
            new_targets, new_spreads = self.predictor.predict_relative(histories, spread)
            targets[todo] = new_targets
            if spreads is not None:
                spreads[todo] = new_spreads
            if ids is not None:
                if len(self._memo) > 4 * len(history.ids) + 64:  # forget removed tracks
                    live = set(history.ids.tolist())
                    self._memo = {k: v for k, v in self._memo.items() if k in live}
                for i in np.flatnonzero(todo):
                    self._memo[ids[i]] = (
                        counts[i],
                        stride,
                        targets[i],
                        None if spreads is None else spreads[i],
                    )
        if newest is None or newest_s is None:
            newest, newest_s = history.newest(np.arange(len(history.count)))
        boxes, pixels = self.predictor.to_pixels(newest[rows], targets, spreads)
        return boxes, pixels, rows, newest_s[rows]

    def future_centres(
        self,
        mean: np.ndarray,
        times_s: np.ndarray,
        history: TrackHistory | None = None,
        now_s: float | None = None,
    ) -> np.ndarray:
        """(N, T, 2) centres ``times_s`` ahead of now: the LSTM's path where it has a history."""
        out = KalmanBoxModel.future_centres(mean, times_s)
        if history is None or now_s is None or len(mean) == 0:
            return out
        step_boxes, _, rows, last_s = self._step_boxes(history, self._stride(0.0))
        if len(rows):
            ahead = (now_s - last_s)[:, None] + np.asarray(times_s)[None, :]
            boxes = interpolate_steps(step_boxes, ahead)
            # Start the path at the current estimate, so that it joins the drawn box.
            centres = (boxes[..., :2] + boxes[..., 2:]) / 2
            out[rows] = centres - centres[:, :1] + mean[rows, None, 0:2]
        return out


__all__ = ["LearnedBoxModel", "TrackHistory", "cxcywh_to_xyxy", "hybrid_weight"]
