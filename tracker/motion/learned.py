"""Kalman filter whose predictions come from the LSTM (``motion.kind: lstm`` and ``hybrid``).

The Kalman filter still carries every track's state and uncertainty, and fuses each new
detection; only the predicted box changes. For a track with at least ``MIN_HISTORY`` recent
boxes, the LSTM predicts the box at the current time from the track's *observed* boxes, however
long ago the last one was, so a lost track is carried through an occlusion by the learned
motion rather than by a straight line. Tracks with a shorter history use the Kalman filter.

- ``lstm``: the LSTM's box replaces the Kalman prediction.
- ``hybrid``: the Kalman prediction one frame after a detection (where it is already good and
  smooth), the LSTM's from ``hybrid_weight`` on: a blend that turns fully learned by 0.3 s.
  A track whose last box the frame's edge cut (``TrackHistory.cut``) keeps the Kalman
  prediction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..config import MotionConfig
from .kalman import PP, KalmanBoxModel, cxcywh_to_xyxy
from .trajectories import (
    FUTURE_STEPS,
    STEP_S,
    cxcywh_from_targets,
    histories_from_rings,
    interpolate_steps,
    spread_in_pixels,
    usable_rings,
)

if TYPE_CHECKING:
    from .lstm import LSTMPredictor

SPREAD = 3  # row of ``cov`` holding the learned prediction's centre variance

# The hybrid's share of the LSTM is zero up to this many seconds after a track's last box,
# and rises to one over the next HYBRID_BLEND_S.
HYBRID_FROM_S = 0.1
HYBRID_BLEND_S = 0.2

# Columns of a path table (``path_tables``): the box, its rates and the centre spread; the
# first eight are the Kalman state's (``kalman.STATE_DIM``).
_BOX, _RATE, _SPREAD = slice(0, 4), slice(4, 8), slice(8, 10)


def hybrid_weight(ahead_s: np.ndarray) -> np.ndarray:
    """Share of the LSTM in the hybrid prediction ``ahead_s`` seconds after the last box."""
    share = (np.asarray(ahead_s, np.float64) - HYBRID_FROM_S) / HYBRID_BLEND_S
    return np.minimum(np.maximum(share, 0.0), 1.0)  # np.clip costs more on a few tracks


def path_tables(newest: np.ndarray, targets: np.ndarray, spreads: np.ndarray | None) -> np.ndarray:
    """The network's path around each newest box (S, 4 xyxy), from its relative ``targets`` and
    ``spreads`` (S, K+1, 4; ``LSTMPredictor.predict_relative``), as (S, K+1, 10) rows per step:
    the cxcywh box, its rates per second to the next step (the last step's repeated) and the
    centre spread in pixels (zero without ``spreads``).

    Read with ``read_tables``: linear between steps and beyond the last one, it gives exactly
    what ``interpolate_steps`` gives on ``LSTMPredictor.to_pixels``' boxes and spreads.
    """
    table = np.zeros(targets.shape[:2] + (10,))
    table[..., _BOX] = cxcywh_from_targets(newest, targets)
    box = table[..., _BOX]
    table[:, :-1, _RATE] = (box[:, 1:] - box[:, :-1]) / STEP_S  # np.diff, at a third of its cost
    table[:, -1, _RATE] = table[:, -2, _RATE]
    if spreads is not None:
        table[..., _SPREAD] = spread_in_pixels(newest, spreads)[..., 0:2]
    return table


def read_tables(tables: np.ndarray, ahead_s: np.ndarray) -> np.ndarray:
    """From path tables (S, K+1, 10), at ``ahead_s`` (S,) seconds after each newest box, (S, 10)
    rows: the cxcywh box, its rates per second (over the next STEP_S) and the centre spread
    (pixels)."""
    pos = np.maximum(ahead_s, 0.0) / STEP_S
    low = np.minimum(pos.astype(np.int64), tables.shape[1] - 2)
    rows = np.arange(len(pos))
    a = tables[rows, low]
    out = a + (tables[rows, low + 1] - a) * (pos - low)[:, None]
    return out


class TrackHistory:
    """Ring buffers of the observed boxes of N tracks, as the tracker keeps them; ``ids`` (N,)
    names the tracks (learned models then reuse a prediction while a track's boxes are
    unchanged); ``newest_s`` (N,), where the caller has it, the time of each newest box;
    ``image_size``, where known, the (width, height) of the frames the boxes are in;
    ``motion_class``, the tracks' class as an index in ``trajectories.MOTION_CLASSES`` (-1:
    unknown); ``cut`` (N,), where known, whether each newest box lay at the frame's edge when
    it was observed (``trajectories.at_frame_edge``; before any camera warp moved it)."""

    def __init__(
        self,
        xyxy: np.ndarray,
        time_s: np.ndarray,
        count: np.ndarray,
        ids: np.ndarray | None = None,
        newest_s: np.ndarray | None = None,
        image_size: tuple[float, float] | None = None,
        motion_class: int = -1,
        cut: np.ndarray | None = None,
    ) -> None:
        self.xyxy, self.time_s, self.count, self.ids = xyxy, time_s, count, ids
        self._newest_s = newest_s
        self.image_size = image_size
        self.motion_class = motion_class
        self.cut = cut

    def newest(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The newest box (r, 4) of ``rows`` and its time (r,)."""
        last = (self.count[rows] - 1) % self.time_s.shape[1]
        return self.xyxy[rows, last].astype(np.float64), self.time_s[rows, last]

    def newest_time(self) -> np.ndarray:
        """(N,) the time of every track's newest box (``newest_s`` when the caller keeps it)."""
        if self._newest_s is not None:
            return self._newest_s
        last = (self.count - 1) % self.time_s.shape[1]
        return self.time_s[np.arange(len(last)), last]


class _Path(NamedTuple):
    """A track's memoised prediction: valid while its box count, the stride and the camera
    warp generation are unchanged (the relative targets outlive a warp, the table does not),
    and the frame size with them (a new size clears every memo)."""

    count: int
    stride: int
    targets: np.ndarray
    spreads: np.ndarray | None
    generation: int
    table: np.ndarray


class LearnedBoxModel(KalmanBoxModel):
    """The ``lstm`` and ``hybrid`` motion models (see the module docstring).

    A lost track's observed boxes do not change while it is lost, and neither does the
    network's answer for them: it is computed once, kept as a table of the path in pixels, and
    reused, keyed by track id and box count. A camera warp moves the boxes; the network's
    answer relative to the newest box stays (the small roll a driving camera adds, and the
    warp's shift of the box's offset from the image centre, a few pixels a frame against the
    many box heights the offset is read in, are ignored) and only the table is rebuilt. With
    ``hybrid``, tracks seen in the previous frame take the Kalman prediction alone, so the
    network runs only when a track has just been missed, and not for one whose last box the
    frame's edge cut (``TrackHistory.cut``: such a track is most often leaving the picture;
    measured: the network then ran on 567 lost tracks of the KITTI dev cars instead of 971,
    and tracking held or gained). Wherever the LSTM serves a track (with ``lstm``: every
    track with a long enough history) it also sets the state's rates to those of its
    predicted path.
    """

    # The state is the Kalman filter's, with one more row of ``cov``: the centre variance of
    # the learned prediction (zero where the Kalman filter's serves). It feeds the gate only;
    # the Kalman update keeps its own covariance, which the LSTM's spread would make
    # inconsistent with the velocity terms it leaves alone (measured: many more switches).
    # ``KalmanBoxModel`` zeroes rows it does not use, so the row is reset by every update.
    COV_ROWS = SPREAD + 1

    def __init__(self, config: MotionConfig, predictor: LSTMPredictor | None = None) -> None:
        super().__init__(config)
        if predictor is None:
            from .lstm import LSTMPredictor  # torch is imported only when a learned model is used

            predictor = LSTMPredictor(config.weights or None)
        self.predictor = predictor
        self._spread = predictor.has_spread  # read every frame: not through torch's getattr
        self.reads_cut = config.kind == "hybrid"  # ``_tables`` leaves cut boxes to the Kalman filter
        self._frame_dt = STEP_S
        self._memo: dict[int, _Path] = {}  # track id -> its path
        self._image_size: tuple[float, float] | None = None  # the frame size the memo holds for
        self._generation = 0  # camera warps so far

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
        mean, cov = super().predict(mean, cov, dt)  # the spread row comes back zero
        if history is None or now_s is None or len(mean) == 0:
            return mean, cov
        ahead = now_s - history.newest_time()
        if self.config.kind == "hybrid":
            # Times are sums of frame periods: 0.1 s after the last box may read 0.1 + 1e-16.
            rows = (ahead > HYBRID_FROM_S + 1e-6).nonzero()[0]
            if len(rows) == 0:  # every track was seen in the previous frame
                return mean, cov
        else:
            rows = np.arange(len(mean))
        tables, rows = self._tables(history, stride, rows)
        if len(rows) == 0:
            return mean, cov
        # The box and its rates there: the Kalman filter then goes on from the learned motion,
        # and a detection after the gap corrects that, not a velocity the gap has made stale.
        ahead = ahead[rows]
        state = read_tables(tables, ahead)
        var = state[:, _SPREAD] ** 2
        state = state[:, :8]
        if self.config.kind == "hybrid" and ahead.min() < HYBRID_FROM_S + HYBRID_BLEND_S:
            # Some tracks were missed only lately: blend in the Kalman filter's prediction.
            w = hybrid_weight(ahead)[:, None]
            kalman = mean[rows]
            state = kalman + w * (state - kalman)
            var = cov[rows, PP, 0:2] * (1 - w) + w * var
        np.maximum(state[:, 2:4], 1.0, out=state[:, 2:4])
        mean[rows] = state
        if self._spread:
            cov[rows, SPREAD, 0:2] = var
        return mean, cov

    def warp(self, mean: np.ndarray, cov: np.ndarray, warp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._generation += 1  # the tracks' boxes move: their path tables are rebuilt
        return super().warp(mean, cov, warp)

    def centre_std(self, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
        """The learned prediction's own spread where it serves, the Kalman filter's elsewhere
        (both with the detector's noise)."""
        learned = cov[:, SPREAD, 0:2]
        var = np.where(learned > 0, learned, cov[:, PP, 0:2])
        return np.sqrt(var + self.measurement_noise(mean)[:, 0:2])

    def _tables(self, history: TrackHistory, stride: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Path tables (r, FUTURE_STEPS + 1, 10; ``path_tables``) of the usable tracks of
        ``rows``, from the network reading every ``stride``-th box back, and those tracks'
        rows. Taken from the memo where a track's boxes have not changed. With ``hybrid``,
        tracks whose last box the frame cut are left out (``TrackHistory.cut``)."""
        if self.reads_cut and history.cut is not None:
            rows = rows[~history.cut[rows]]
        rows = rows[usable_rings(history.count[rows], history.time_s.shape[1], stride)]
        if len(rows) == 0:
            return np.zeros((0, FUTURE_STEPS + 1, 10)), rows
        if history.image_size != self._image_size:  # the answers depend on it
            self._memo.clear()
            self._image_size = history.image_size
        if history.ids is None:
            targets, spreads = self._network(history, stride, rows)
            return path_tables(history.newest(rows)[0], targets, spreads), rows
        ids = history.ids[rows].tolist()
        counts = history.count[rows].tolist()
        paths: list[_Path | None] = [None] * len(rows)
        run: list[int] = []  # positions in ``rows`` the network must answer
        moved: list[int] = []  # known answers whose boxes a camera warp has moved
        for i, (key, count) in enumerate(zip(ids, counts, strict=True)):
            hit = self._memo.get(key)
            if hit is None or hit.count != count or hit.stride != stride:
                run.append(i)
            elif hit.generation != self._generation:
                moved.append(i)
            else:
                paths[i] = hit
        if run or moved:
            if len(self._memo) > 4 * len(history.ids) + 64:  # forget removed tracks
                live = set(history.ids.tolist())
                self._memo = {k: v for k, v in self._memo.items() if k in live}
            targets, spreads = self._network(history, stride, rows[run])
            if moved:
                known = [self._memo[ids[i]] for i in moved]
                targets = np.concatenate([targets, np.stack([k.targets for k in known])])
                if spreads is not None:
                    spreads = np.concatenate([spreads, np.stack([k.spreads for k in known])])
            todo = run + moved
            tables = path_tables(history.newest(rows[todo])[0], targets, spreads)
            for j, i in enumerate(todo):
                path = _Path(
                    counts[i],
                    stride,
                    targets[j],
                    None if spreads is None else spreads[j],
                    self._generation,
                    tables[j],
                )
                self._memo[ids[i]] = paths[i] = path
        return np.array([p.table for p in paths]), rows  # np.stack costs 4x more here

    def _network(
        self, history: TrackHistory, stride: int, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The network's relative targets and spreads (None without) for ``rows``."""
        histories, _ = histories_from_rings(
            history.xyxy[rows],
            history.time_s[rows],
            history.count[rows],
            stride,
            history.image_size,
            history.motion_class,
        )
        return self.predictor.predict_relative(histories, self._spread)

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
        tables, rows = self._tables(history, self._stride(0.0), np.arange(len(mean)))
        if len(rows):
            ahead = (now_s - history.newest_time()[rows])[:, None] + np.asarray(times_s)[None, :]
            centres = interpolate_steps(tables[..., 0:2], ahead)
            # Start the path at the current estimate, so that it joins the drawn box.
            out[rows] = centres - centres[:, :1] + mean[rows, None, 0:2]
        return out


__all__ = ["LearnedBoxModel", "TrackHistory", "cxcywh_to_xyxy", "hybrid_weight", "path_tables", "read_tables"]
