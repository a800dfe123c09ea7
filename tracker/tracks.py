"""The tracker: detections in, tracks with stable ids out.

Classes that may share a track form a class group; each group's tracks follow their lifecycle
(tentative -> confirmed <-> lost -> removed) in ``tracker.lifecycle``. Lifetimes are seconds,
converted through the frames' timestamps (or the frame rate).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .associate import iou_matrix
from .config import TrackerConfig
from .lifecycle import GroupTracker
from .motion import MotionFactory, make_motion_model
from .structures import Detections, Track, Tracks, Trails


class Tracker:
    """Multi-object tracker: call ``update`` once per frame, even with no detections.

    Args:
        config: tracker settings; the defaults when None.
        class_names: names of the detector's class ids (``class_names[class_id]``), used to
            group classes that may share a track (e.g. car/van/truck) and to pick per-class
            settings. Ids without a name form a group of their own.
        motion_factory: builds each class group's motion model from its ``motion`` settings
            (any ``tracker.motion.MotionModel``); by default the one ``motion.kind`` names.

    Ids start at 1 for every tracker instance and again after ``reset()``.
    """

    def __init__(
        self,
        config: TrackerConfig | None = None,
        class_names: Sequence[str] = (),
        motion_factory: MotionFactory = make_motion_model,
    ) -> None:
        self.config = config or TrackerConfig()
        self.class_names = tuple(class_names)
        self.motion_factory = motion_factory
        self.reset()

    def reset(self) -> None:
        """Forget every track and restart ids at 1."""
        self._groups: dict[tuple[str, ...], GroupTracker] = {}
        self._group_of_class: dict[int, tuple[str, ...]] = {}
        self._last_id = 0  # public ids: given when a track is first reported, 1, 2, 3, ...
        self._last_internal = 0  # ids of tracks not yet reported: -1, -2, ...
        self._frame_index = -1
        # Detections dropped for NaN or infinite coordinates or scores, or empty boxes.
        self.invalid_detections = 0
        self._time_s: float | None = None
        # The frames' (width, height), once ``update`` is given it; the groups read it.
        self.image_size: tuple[float, float] | None = None
        self._score_maps: dict[int, object] = {}

    def _allocate_ids(self, n: int, public: bool = True) -> np.ndarray:
        """``n`` ids unique across the groups: public ones consecutive from 1 (a track gets one
        when it is first reported, so people who count vehicles by id see no gaps), internal
        ones negative (tentative tracks, which may never be reported)."""
        if not public:
            ids = -np.arange(self._last_internal + 1, self._last_internal + 1 + n, dtype=np.int64)
            self._last_internal += n
            return ids
        ids = np.arange(self._last_id + 1, self._last_id + 1 + n, dtype=np.int64)
        self._last_id += n
        return ids

    def _group_key(self, class_id: int) -> tuple[str, ...]:
        key = self._group_of_class.get(class_id)
        if key is None:
            name = self._name(class_id)
            key = next((g for g in self.config.class_groups if name in g), (name,))
            self._group_of_class[class_id] = key
            if key not in self._groups:
                ids = [i for i, n in enumerate(self.class_names) if n in key] or [class_id]
                sub = self.config.for_class(name)
                group = GroupTracker(sub, np.array(sorted(ids)), self._allocate_ids, self.motion_factory, key)
                self._groups[key] = group
        return key

    def _name(self, class_id: int) -> str:
        if 0 <= class_id < len(self.class_names):
            return self.class_names[class_id]
        return str(class_id)

    def update(
        self,
        detections: Detections,
        time_s: float | None = None,
        camera_motion: np.ndarray | None = None,
        image_size: tuple[float, float] | None = None,
    ) -> Tracks:
        """Advance one frame and return the tracks to report for it.

        Args:
            detections: this frame's detections (invalid boxes are dropped).
            time_s: the frame's timestamp in seconds; when None, frames are assumed evenly
                spaced at ``config.frame_rate``.
            camera_motion: 2x3 affine that maps the previous frame's pixels to this frame's
                (see ``tracker.camera.CameraMotion``); tracks are moved by it before prediction.
            image_size: the frame's (width, height) in pixels, kept for later frames until
                given again. Learned motion models read where each box sits in the image
                (perspective moves a box off the centre unlike one in the middle); without it
                they predict from the boxes alone.
        """
        self._frame_index += 1
        if image_size is not None:
            self.image_size = (float(image_size[0]), float(image_size[1]))
        if time_s is None:
            time_s = self._frame_index / self.config.frame_rate
        dt = 0.0 if self._time_s is None else time_s - self._time_s
        self._time_s = time_s

        if camera_motion is not None:
            for group in self._groups.values():
                group.apply_camera_motion(np.asarray(camera_motion, np.float64))
        valid = detections.valid_mask()
        if not valid.all():
            self.invalid_detections += int((~valid).sum())
            detections = detections[valid]
        detections = self._calibrated(detections)
        keys = [self._group_key(int(c)) for c in np.unique(detections.class_id)]
        if len(set(keys)) > 1 and self.config.cross_class_nms_iou < 1.0:
            detections = self._suppress_cross_class(detections)
        if len(self._groups) == 1 and len(keys) <= 1:
            (group,) = self._groups.values()
            return group.step(detections, time_s, dt, self.image_size)
        parts = []
        for key, group in self._groups.items():
            if key in keys:
                mask = np.isin(detections.class_id, group.class_ids)
                group_dets = detections[mask]
            else:
                group_dets = Detections.empty()
            if len(group.table) or len(group_dets):
                parts.append(group.step(group_dets, time_s, dt, self.image_size))
        return Tracks.concatenate(parts)

    def _calibrated(self, dets: Detections) -> Detections:
        """Scores through each class's ``score_map`` (before thresholds and cross-class NMS,
        so that classes with differently scaled raw scores compare fairly)."""
        if not len(dets):
            return dets
        score = dets.score
        for class_id in np.unique(dets.class_id):
            class_id = int(class_id)
            score_map = self._score_maps.get(class_id)
            if score_map is None:
                score_map = self.config.for_class(self._name(class_id)).score_map
                self._score_maps[class_id] = score_map
            if score_map.raw:
                if score is dets.score:
                    score = score.copy()
                mask = dets.class_id == class_id
                score[mask] = score_map(dets.score[mask])
        return dets if score is dets.score else Detections(dets.xyxy, score, dets.class_id)

    def _suppress_cross_class(self, dets: Detections) -> Detections:
        """Drop a box that overlaps a stronger box of another class group: one object, one box
        (e.g. the rider of a bicycle detected both as cyclist and as pedestrian). Only groups of
        ``cross_class_nms_classes`` take part, when that is set: a pedestrian in front of a car
        is two objects."""
        nms_classes = self.config.cross_class_nms_classes
        keys = [self._group_key(int(c)) for c in dets.class_id]
        group = np.array([id(self._groups[k]) for k in keys])
        listed = np.array([not nms_classes or any(n in k for n in nms_classes) for k in keys])
        iou = iou_matrix(dets.xyxy, dets.xyxy)
        rival = (group[:, None] != group[None, :]) & (dets.score[None, :] > dets.score[:, None])
        rival &= listed[:, None] & listed[None, :]
        drop = ((iou >= self.config.cross_class_nms_iou) & rival).any(axis=1)
        return dets[~drop] if drop.any() else dets

    def live_tracks(self) -> list[Track]:
        """Every track not yet removed (tentative, confirmed and lost), with its recent history."""
        now = self._time_s or 0.0
        return [t for g in self._groups.values() for t in g.live_tracks(now)]

    def trails(self, tracks: Tracks) -> Trails:
        """The recent boxes of ``tracks`` (as ``update`` returned them), oldest first, row for
        row, for drawing trails; a track no longer live has none."""
        groups = [g for g in self._groups.values() if len(g.table)]
        h = max((g.table.hist_xyxy.shape[1] for g in groups), default=0)
        out = Trails.empty(len(tracks), h)
        for group in groups:
            found, xyxy, length = group.trails(tracks.id)
            out.xyxy[found, : xyxy.shape[1]] = xyxy
            out.length[found] = length
        return out

    def predicted_paths(self, horizon_s: float = 1.0, steps: int = 10) -> dict[int, np.ndarray]:
        """Each live track's predicted centre path: ``{id: (steps + 1, 2)}``, from now on."""
        times = np.linspace(0.0, horizon_s, steps + 1)
        paths: dict[int, np.ndarray] = {}
        for group in self._groups.values():
            t = group.table
            if len(t):
                centres = group.motion.future_centres(t.mean, times, group.history(), self._time_s)
                for tid, path in zip(t.id, centres, strict=True):
                    paths[int(tid)] = path
        return paths

    @property
    def tracks_reported(self) -> int:
        """How many distinct tracks have been reported since the last ``reset()``."""
        return sum(g.tracks_reported for g in self._groups.values())

    @property
    def frame_index(self) -> int:
        return self._frame_index
