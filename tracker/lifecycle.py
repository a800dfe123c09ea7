"""The lifecycle of the tracks of one class group: tentative -> confirmed <-> lost -> removed.

Every track lives in one row of a struct-of-arrays table (``TrackTable``), so that prediction,
cost matrices and updates run on all tracks at once. ``GroupTracker.step`` is one frame of one
group, in numbered steps; ``tracker.tracks.Tracker`` splits a frame's detections by class group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .associate import associate_byte
from .camera import warp_boxes
from .config import TrackerConfig
from .motion import MotionFactory, TrackHistory, make_motion_model
from .motion.trajectories import at_frame_edge, motion_class_index
from .structures import Detections, Track, Tracks, TrackState

_TENTATIVE = np.int8(TrackState.TENTATIVE)
_CONFIRMED = np.int8(TrackState.CONFIRMED)
_LOST = np.int8(TrackState.LOST)
_REMOVED = np.int8(TrackState.REMOVED)
# Weight of "still" in a new track's motion prior, against neighbours weighing up to 1 each.
_STILL_PRIOR_WEIGHT = 0.5


@dataclass
class TrackTable:
    """One row per live track. Histories are ring buffers of ``history_len`` boxes."""

    id: np.ndarray  # (n,) int64
    mean: np.ndarray  # (n, D) motion state
    cov: np.ndarray  # (n, D, D)
    state: np.ndarray  # (n,) int8 TrackState
    hits: np.ndarray  # (n,) int64 matched frames in total
    start_s: np.ndarray  # (n,) time of birth
    seen_s: np.ndarray  # (n,) time of the last matched detection
    score: np.ndarray  # (n,) float32 score of the last matched detection
    confidence: np.ndarray  # (n,) best matched detection score: evidence the object is real
    shown: np.ndarray  # (n,) bool: confidence has reached report_score once; stays reported
    det_xyxy: np.ndarray  # (n, 4) last matched detection box
    votes: np.ndarray  # (n, K) accumulated detection score per class of the group
    class_col: np.ndarray  # (n,) int64 column of ``votes`` that is the track's class
    hist_xyxy: np.ndarray  # (n, H, 4) float32
    hist_s: np.ndarray  # (n, H)
    hist_count: np.ndarray  # (n,) int64 boxes written so far
    cut: np.ndarray  # (n,) bool: the newest box lay at the frame's edge when it was observed

    def __len__(self) -> int:
        return len(self.id)

    def take(self, index: np.ndarray) -> TrackTable:
        return TrackTable(*(array[index] for array in vars(self).values()))

    def extend(self, other: TrackTable) -> TrackTable:
        if len(self) == 0:
            return other
        return TrackTable(
            *(np.concatenate(pair) for pair in zip(vars(self).values(), vars(other).values(), strict=False))
        )


def _nonzero(mask: np.ndarray) -> np.ndarray:
    """Indices where ``mask`` is true (``np.flatnonzero`` without its per-call overhead)."""
    return mask.nonzero()[0]


class GroupTracker:
    """Tracks of one class group (classes that may share a track), with one config."""

    def __init__(
        self,
        config: TrackerConfig,
        class_ids: np.ndarray,
        next_id: Callable[..., np.ndarray],
        motion_factory: MotionFactory = make_motion_model,
        class_names: Sequence[str] = (),
    ) -> None:
        self.config = config
        # The group's motion class (car, pedestrian, cyclist or unknown), for learned motion.
        self.motion_class = motion_class_index(class_names)
        self.class_ids = np.asarray(class_ids, np.int64)  # column -> class id, sorted
        self.motion = motion_factory(config.motion)
        self._records_cut = bool(getattr(self.motion, "reads_cut", False))
        self._next_id = next_id
        self.table = self._empty_table()
        self.tracks_reported = 0  # tracks ever reported (a count: memory stays flat)
        self.image_size: tuple[float, float] | None = None  # the latest frame's, where known

    def _empty_table(self) -> TrackTable:
        h = self.config.lifecycle.history_len
        k = len(self.class_ids)
        mean, cov = self.motion.initiate(np.zeros((0, 4)))
        return TrackTable(
            id=np.zeros(0, np.int64),
            mean=mean,
            cov=cov,
            state=np.zeros(0, np.int8),
            hits=np.zeros(0, np.int64),
            start_s=np.zeros(0),
            seen_s=np.zeros(0),
            score=np.zeros(0, np.float32),
            confidence=np.zeros(0, np.float32),
            shown=np.zeros(0, bool),
            det_xyxy=np.zeros((0, 4), np.float32),
            votes=np.zeros((0, k)),
            class_col=np.zeros(0, np.int64),
            hist_xyxy=np.zeros((0, h, 4), np.float32),
            hist_s=np.zeros((0, h)),
            hist_count=np.zeros(0, np.int64),
            cut=np.zeros(0, bool),
        )

    # ------------------------------------------------------------------ per frame

    def step(
        self, dets: Detections, time_s: float, dt: float, image_size: tuple[float, float] | None = None
    ) -> Tracks:
        """One frame: predict, associate (``associate_byte``), update lifecycles, report;
        ``image_size``, the frame's (width, height) where known, goes to the motion model with
        the tracks' boxes (``history``)."""
        self.image_size = image_size
        life = self.config.lifecycle
        t = self.table
        if self.config.box_scale != (1.0, 1.0) and len(dets):
            dets = dets.rescaled(*self.config.box_scale)

        # 1. Predict every track to this frame (lost tracks keep their size).
        if len(t) and dt > 0:
            lost = t.state == _LOST
            if lost.any():
                t.mean = self.motion.freeze_size(t.mean, lost)
            t.mean, t.cov = self.motion.predict(t.mean, t.cov, dt, self.history(), time_s)
        predicted = self.motion.boxes(t.mean) if len(t) else np.zeros((0, 4))

        # 2. Associate: BYTE's split of the detections by score and its matching rounds.
        assoc = self.config.association
        spread = self.motion.centre_std(t.mean, t.cov) if assoc.spread_gate > 0 and len(t) else None
        matches = associate_byte(predicted, t.state, dets.xyxy, dets.score, assoc, life, t.det_xyxy, spread)
        track_matched = np.full(len(t), -1, np.int64)  # detection index per track
        track_matched[matches.track_idx] = matches.det_idx
        det_used = np.zeros(len(dets), bool)
        det_used[matches.det_idx] = True

        # 3. Update matched tracks, then age the rest.
        self._update_matched(track_matched, dets, time_s)
        self._age_unmatched(track_matched, time_s)

        # 4. Birth: confident detections that no track explained.
        births = _nonzero(~det_used & (dets.score >= life.new_track_score))
        self._drop_removed()
        if len(births):
            self._birth(dets[births], time_s)
        return self._report(time_s)

    def history(self) -> TrackHistory:
        """The observed boxes of every track (ring buffers), for learned motion models."""
        t = self.table
        # seen_s is the newest ring box's time: both are written together, at birth and match.
        return TrackHistory(
            t.hist_xyxy, t.hist_s, t.hist_count, t.id, t.seen_s, self.image_size, self.motion_class, t.cut
        )

    def apply_camera_motion(self, warp: np.ndarray) -> None:
        """Move every track into the coordinates of the new frame (``warp``: 2x3 affine from
        the previous frame's pixels to this frame's)."""
        t = self.table
        if len(t) == 0:
            return
        t.mean, t.cov = self.motion.warp(t.mean, t.cov, warp)
        t.det_xyxy = warp_boxes(t.det_xyxy, warp).astype(np.float32)
        n, h, _ = t.hist_xyxy.shape
        t.hist_xyxy = warp_boxes(t.hist_xyxy.reshape(-1, 4), warp).reshape(n, h, 4).astype(np.float32)

    def _update_matched(self, track_matched: np.ndarray, dets: Detections, time_s: float) -> None:
        rows = _nonzero(track_matched >= 0)
        if len(rows) == 0:
            return
        t = self.table
        cols = track_matched[rows]
        boxes = dets.xyxy[cols]
        if len(rows) == len(t):
            t.mean, t.cov = self.motion.update(t.mean, t.cov, boxes)
        else:
            t.mean[rows], t.cov[rows] = self.motion.update(t.mean[rows], t.cov[rows], boxes)
        t.hits[rows] += 1
        t.seen_s[rows] = time_s
        score = dets.score[cols]
        t.score[rows] = score
        t.confidence[rows] = self._evidence(t.confidence[rows], score)
        t.det_xyxy[rows] = boxes
        self._vote(rows, dets.class_id[cols], score)
        self._record_history(rows, boxes, time_s)
        if self._records_cut:
            t.cut[rows] = self._cut(boxes)

        life = self.config.lifecycle
        state = t.state[rows]
        promote = (state == _LOST) | ((state == _TENTATIVE) & (t.hits[rows] >= life.min_hits))
        t.state[rows[promote]] = _CONFIRMED

    def _vote(self, rows: np.ndarray, class_id: np.ndarray, score: np.ndarray) -> None:
        t = self.table
        if t.votes.shape[1] == 1:
            return
        cols = np.searchsorted(self.class_ids, class_id)
        t.votes[rows, cols] += np.maximum(score, 1e-3)  # rows are unique
        # Only a detection of another class than the track's can make the track switch.
        differs = cols != t.class_col[rows]
        if not differs.any():
            return
        rows = rows[differs]
        best = np.argmax(t.votes[rows], axis=1)
        current = t.class_col[rows]
        ratio = self.config.class_switch_ratio
        switch = t.votes[rows, best] >= ratio * t.votes[rows, current]
        t.class_col[rows[switch]] = best[switch]

    def _record_history(self, rows: np.ndarray, boxes: np.ndarray, time_s: float) -> None:
        t = self.table
        slot = t.hist_count[rows] % t.hist_xyxy.shape[1]
        t.hist_xyxy[rows, slot] = boxes
        t.hist_s[rows, slot] = time_s
        t.hist_count[rows] += 1

    def _cut(self, xyxy: np.ndarray) -> np.ndarray:
        """Whether each observed box lies at the frame's edge, for motion models that read it
        (``reads_cut``; False where the frame size is unknown)."""
        if not self._records_cut or self.image_size is None:
            return np.zeros(len(xyxy), bool)
        return at_frame_edge(xyxy, self.image_size)

    def _age_unmatched(self, track_matched: np.ndarray, time_s: float) -> None:
        t = self.table
        unmatched = track_matched < 0
        if not unmatched.any():
            return
        life = self.config.lifecycle
        state = t.state
        # A tentative track that misses a frame was most likely a false detection.
        state[unmatched & (state == _TENTATIVE)] = _REMOVED
        state[unmatched & (state == _CONFIRMED)] = _LOST
        expired = unmatched & (state == _LOST) & (time_s - t.seen_s > life.max_lost_s + 1e-9)
        state[expired] = _REMOVED

    def _drop_removed(self) -> None:
        keep = self.table.state != _REMOVED
        if not keep.all():
            self.table = self.table.take(keep)

    def _birth(self, dets: Detections, time_s: float) -> None:
        n = len(dets)
        life = self.config.lifecycle
        velocity = self._neighbour_velocity(dets.xyxy, time_s)
        # A model written before velocity priors takes the boxes alone.
        mean, cov = (
            self.motion.initiate(dets.xyxy) if velocity is None else self.motion.initiate(dets.xyxy, velocity)
        )
        k = len(self.class_ids)
        votes = np.zeros((n, k))
        cols = np.searchsorted(self.class_ids, dets.class_id) if k > 1 else np.zeros(n, np.int64)
        votes[np.arange(n), cols] = np.maximum(dets.score, 1e-3)
        confirmed = (dets.score >= life.instant_confirm_score) | (life.min_hits <= 1)
        h = life.history_len
        hist_xyxy = np.zeros((n, h, 4), np.float32)
        hist_xyxy[:, 0] = dets.xyxy
        hist_s = np.zeros((n, h))
        hist_s[:, 0] = time_s
        new = TrackTable(
            id=self._next_id(n, public=False),  # the public id comes with the first report
            mean=mean,
            cov=cov,
            state=np.where(confirmed, _CONFIRMED, _TENTATIVE).astype(np.int8),
            hits=np.ones(n, np.int64),
            start_s=np.full(n, time_s),
            seen_s=np.full(n, time_s),
            score=dets.score.copy(),
            confidence=self._evidence(np.full(n, -np.inf, np.float32), dets.score),
            shown=np.zeros(n, bool),
            det_xyxy=dets.xyxy.copy(),
            votes=votes,
            class_col=cols.astype(np.int64),
            hist_xyxy=hist_xyxy,
            hist_s=hist_s,
            hist_count=np.ones(n, np.int64),
            cut=self._cut(dets.xyxy),
        )
        self.table = self.table.extend(new)

    def _evidence(self, confidence: np.ndarray, score: np.ndarray) -> np.ndarray:
        """A track's evidence after one more detection of ``score`` (``lifecycle.evidence``):
        the best score so far, or 1 - prod(1 - score) over its detections, scores clipped to
        [0, 1] (they are precisions once calibrated)."""
        if self.config.lifecycle.evidence == "accumulate":
            before = np.clip(confidence, 0.0, 1.0)  # a new track (-inf) has none yet
            return (1.0 - (1.0 - before) * (1.0 - np.clip(score, 0.0, 1.0))).astype(np.float32)
        return np.maximum(confidence, score).astype(np.float32)

    def _neighbour_velocity(self, xyxy: np.ndarray, time_s: float) -> np.ndarray | None:
        """A motion prior for new tracks at ``xyxy``: the image velocity of the established
        tracks near each, weighted by closeness, shrunk towards still where none is near.

        Objects that are near in the image move alike there: when the camera turns, everything
        sweeps across the image together, and a car appearing in a queue moves with the queue.
        At 10 frames/s a small car can move its own width per frame, so a track born still
        would take the next car's box. ``tracker.lifecycle.birth_velocity_radius`` 0 = still.
        """
        radius = self.config.lifecycle.birth_velocity_radius
        t = self.table
        if radius <= 0 or not len(t) or not len(xyxy):
            return None
        ready = (t.state == _CONFIRMED) & (t.seen_s == time_s) & (t.hits >= 3)
        if not ready.any():
            return None
        mean = t.mean[ready]
        centres = self.motion.future_centres(mean, np.array([0.0, 0.1]))
        velocity = (centres[:, 1] - centres[:, 0]) / 0.1  # (M, 2) pixels/s
        here = (xyxy[:, :2] + xyxy[:, 2:]) / 2
        boxes = self.motion.boxes(mean)
        there = (boxes[:, :2] + boxes[:, 2:]) / 2
        # Distances in units of the new box's height: radius heights away weighs e^-0.5.
        height = np.maximum(xyxy[:, 3] - xyxy[:, 1], 1.0)
        d2 = ((here[:, None, :] - there[None, :, :]) ** 2).sum(-1) / (radius * height[:, None]) ** 2
        weight = np.exp(-0.5 * d2)
        return (weight @ velocity) / (weight.sum(axis=1, keepdims=True) + _STILL_PRIOR_WEIGHT)

    def _report(self, time_s: float) -> Tracks:
        t = self.table
        life = self.config.lifecycle
        fresh = t.seen_s == time_s
        confirmed = t.state == _CONFIRMED
        newly_shown = confirmed & (t.confidence >= life.report_score) & ~t.shown
        self.tracks_reported += int(newly_shown.sum())
        if newly_shown.any():
            t.id[newly_shown] = self._next_id(int(newly_shown.sum()))
        t.shown |= newly_shown
        show = confirmed & fresh & t.shown
        if life.report_lost_s > 0:
            show |= (t.state == _LOST) & (time_s - t.seen_s <= life.report_lost_s + 1e-9)
        rows = _nonzero(show)
        if len(rows) == 0:
            return Tracks.empty()
        if life.output_box == "detection":
            xyxy = np.where(fresh[rows, None], t.det_xyxy[rows], self.motion.boxes(t.mean[rows]))
        else:
            xyxy = self.motion.boxes(t.mean[rows])
        return Tracks(
            id=t.id[rows],
            xyxy=xyxy.astype(np.float32),
            score=t.score[rows],
            class_id=self.class_ids[t.class_col[rows]],
            state=t.state[rows],
        )

    def trails(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For tracks ``ids``: which are in this group (mask), and their recorded boxes, oldest
        first (n_found, H, 4), with the count of each (n_found,)."""
        t = self.table
        if len(t) == 0:
            return np.zeros(len(ids), bool), np.zeros((0, 0, 4), np.float32), np.zeros(0, np.int64)
        order = np.argsort(t.id, kind="stable")
        pos = np.minimum(np.searchsorted(t.id, ids, sorter=order), len(t) - 1)
        rows = order[pos]
        found = t.id[rows] == ids
        rows = rows[found]
        h = t.hist_xyxy.shape[1]
        count = t.hist_count[rows]
        start = np.where(count > h, count % h, 0)
        slots = (start[:, None] + np.arange(h)[None, :]) % h
        return found, t.hist_xyxy[rows[:, None], slots], np.minimum(count, h)

    def live_tracks(self, time_s: float) -> list[Track]:
        t = self.table
        out = []
        for i in range(len(t)):
            count = int(t.hist_count[i])
            h = t.hist_xyxy.shape[1]
            order = np.arange(max(0, count - h), count) % h
            history = np.concatenate([t.hist_s[i, order, None], t.hist_xyxy[i, order]], axis=1)
            out.append(
                Track(
                    id=int(t.id[i]),
                    class_id=int(self.class_ids[t.class_col[i]]),
                    xyxy=self.motion.boxes(t.mean[i : i + 1])[0].astype(np.float32),
                    score=float(t.score[i]),
                    state=TrackState(int(t.state[i])),
                    hits=int(t.hits[i]),
                    age_s=float(time_s - t.start_s[i]),
                    history=history,
                )
            )
        return out
