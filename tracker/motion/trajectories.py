"""Ground-truth trajectories and the fixed-size histories that learned motion models read.

A trajectory is one object's boxes over time (gaps allowed). A *history* is what a model sees
at time t: up to ``HISTORY_LEN`` past boxes, newest last, left-padded, with their times
relative to t. The same ``history_features`` feed training, ``track eval-motion`` and the
tracker, so the three cannot drift apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..formats import KITTI_CLASSES, KITTI_IMAGE_SIZE, read_kitti_labels, read_seqmap

# Boxes a model reads, and the spacing it expects between them (KITTI's 10 Hz). Faster sources
# are thinned to about this spacing (see ``select_history``), so one model serves any frame rate.
HISTORY_LEN = 10
STEP_S = 0.1
# Future the model predicts: FUTURE_STEPS steps of STEP_S seconds (1 s).
FUTURE_STEPS = 10
# Boxes at t-3..t are the least a sample (and the tracker's LSTM prediction) needs.
MIN_HISTORY = 4
FEATURES = 6
# Per history: the newest box's log height and aspect ratio, and where it sits in the image
# (``history_features``).
GLOBAL_FEATURES = 5
MOTION_TYPES = ("car", "van", "truck", "pedestrian", "person_sitting", "person", "cyclist")
# The class a trajectory is reported under: KITTI's evaluated classes and cyclists.
MOTION_CLASS = {
    "car": "car",
    "van": "car",
    "truck": "car",
    "pedestrian": "pedestrian",
    "person_sitting": "pedestrian",
    "person": "pedestrian",
    "cyclist": "cyclist",
    # COCO's names for road users (detectors trained on it)
    "bus": "car",
    "bicycle": "cyclist",
    "motorcycle": "cyclist",
}
# The motion classes a model may treat apart (``MotionLSTM.head_share``), by index.
MOTION_CLASSES = ("car", "pedestrian", "cyclist")


def motion_class_index(names: Sequence[str]) -> int:
    """The index in MOTION_CLASSES of the first of ``names`` that has a motion class; -1
    (unknown) where none has."""
    for name in names:
        cls = MOTION_CLASS.get(str(name).lower(), str(name).lower())
        if cls in MOTION_CLASSES:
            return MOTION_CLASSES.index(cls)
    return -1


@dataclass(frozen=True)
class Trajectory:
    """One object's ground truth: ``frame`` (T,) increasing, ``time_s`` (T,), ``xyxy`` (T, 4)."""

    name: str
    frame: np.ndarray
    time_s: np.ndarray
    xyxy: np.ndarray
    cls: str = ""  # car, pedestrian or cyclist (MOTION_CLASS); empty when unknown
    # (width, height) of the frames the boxes are in, when known: where a box sits against the
    # image centre tells how perspective moves it (``history_features``).
    image_size: tuple[float, float] | None = None


def kitti_trajectories(root: str | Path, fps: float = 10.0) -> list[Trajectory]:
    """Every ground-truth track of the motion types in a KITTI folder (``seqmap.txt``,
    ``label_02/``)."""
    root = Path(root)
    seqmap = root / "seqmap.txt"
    if not seqmap.is_file():
        raise FileNotFoundError(f"no seqmap.txt in {root}")
    wanted = [KITTI_CLASSES.index(c) for c in MOTION_TYPES]
    out = []
    for name, _ in read_seqmap(seqmap):
        table = read_kitti_labels(root / "label_02" / f"{name}.txt")
        keep = np.isin(table.class_id, wanted) & ~table.ignore
        classes = np.array([MOTION_CLASS[KITTI_CLASSES[c]] for c in table.class_id[keep]], object)
        out += _split_tracks(
            name, table.frame[keep], table.track_id[keep], table.xyxy[keep], fps, classes, KITTI_IMAGE_SIZE
        )
    return out


def _split_tracks(
    seq: str, frame, track_id, xyxy, fps: float, classes=None, image_size=None
) -> list[Trajectory]:
    out = []
    for tid in np.unique(track_id):
        rows = np.flatnonzero(track_id == tid)
        rows = rows[np.argsort(frame[rows], kind="stable")]
        f = frame[rows]
        _, first = np.unique(f, return_index=True)  # one box per frame
        rows, f = rows[first], f[first]
        # A track's class is its most frequent label (KITTI ids are unique per sequence).
        cls = "" if classes is None else Counter(classes[rows].tolist()).most_common(1)[0][0]
        out.append(Trajectory(f"{seq}:{tid}", f, f / fps, xyxy[rows].astype(np.float64), cls, image_size))
    return out


def select_history(time_s: np.ndarray, count: int, now_index: int) -> np.ndarray:
    """Indices (newest last) of up to HISTORY_LEN boxes ending at ``now_index``, thinned to
    about STEP_S apart, from a time-ordered array that holds ``count`` valid entries."""
    picked = [now_index]
    last = time_s[now_index]
    for i in range(now_index - 1, max(-1, now_index - count), -1):
        if last - time_s[i] >= 0.75 * STEP_S:
            picked.append(i)
            last = time_s[i]
            if len(picked) == HISTORY_LEN:
                break
    return np.array(picked[::-1])


@dataclass(frozen=True)
class Histories:
    """A batch of left-padded histories: ``xyxy`` (S, K, 4), ``dt`` (S, K) seconds relative to
    the newest box (<= 0), ``valid`` (S, K); ``image_centre`` (S, 2) the centre of each
    history's image in pixels, NaN where unknown (None: unknown for all); ``motion_class`` (S,)
    each one's index in MOTION_CLASSES, -1 where unknown (None: unknown for all)."""

    xyxy: np.ndarray
    dt: np.ndarray
    valid: np.ndarray
    image_centre: np.ndarray | None = None
    motion_class: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, rows) -> Histories:
        """The histories at ``rows`` (an index array, a mask or a slice)."""
        centre = None if self.image_centre is None else self.image_centre[rows]
        kind = None if self.motion_class is None else self.motion_class[rows]
        return Histories(self.xyxy[rows], self.dt[rows], self.valid[rows], centre, kind)

    @staticmethod
    def from_lists(
        boxes: Sequence[np.ndarray],
        times: Sequence[np.ndarray],
        image_sizes: Sequence[tuple[float, float] | None] | None = None,
        classes: Sequence[str] | None = None,
    ) -> Histories:
        s = len(boxes)
        xyxy = np.zeros((s, HISTORY_LEN, 4))
        dt = np.zeros((s, HISTORY_LEN))
        valid = np.zeros((s, HISTORY_LEN), bool)
        for i, (b, t) in enumerate(zip(boxes, times, strict=True)):
            k = len(b)
            xyxy[i, HISTORY_LEN - k :] = b
            dt[i, HISTORY_LEN - k :] = t - t[-1]
            valid[i, HISTORY_LEN - k :] = True
        # Padding repeats the oldest box so that features stay finite.
        first = HISTORY_LEN - valid.sum(axis=1)
        for i in np.flatnonzero(first > 0):
            xyxy[i, : first[i]] = xyxy[i, first[i]]
            dt[i, : first[i]] = dt[i, first[i]]
        centres = image_centres(image_sizes) if image_sizes is not None else None
        kinds = None if classes is None else np.array([motion_class_index([c]) for c in classes], np.int64)
        return Histories(xyxy, dt, valid, centres, kinds)


# A box within this many pixels of the frame's edge has been cut by it (detectors and KITTI's
# labels clip boxes to the frame): its size and centre no longer move as the object does.
EDGE_PX = 5.0


def at_frame_edge(xyxy: np.ndarray, image_size: tuple[float, float]) -> np.ndarray:
    """(r,) whether each box (r, 4 xyxy) lies within ``EDGE_PX`` of the edge of a frame of
    ``image_size`` (width, height)."""
    w, h = image_size
    low = (xyxy[:, 0] <= EDGE_PX) | (xyxy[:, 1] <= EDGE_PX)
    return low | (xyxy[:, 2] >= w - EDGE_PX) | (xyxy[:, 3] >= h - EDGE_PX)


def image_centres(image_sizes: Sequence[tuple[float, float] | None]) -> np.ndarray:
    """(S, 2) centres of images of these (width, height) sizes; NaN for None."""
    out = np.full((len(image_sizes), 2), np.nan)
    for i, size in enumerate(image_sizes):
        if size is not None:
            out[i] = (size[0] / 2, size[1] / 2)
    return out


def cxcywh_at_least_1px(xyxy: np.ndarray) -> np.ndarray:
    """cxcywh of ``xyxy`` (..., 4) boxes, sizes floored at a pixel: the frame the network's
    targets are relative to."""
    out = np.empty(xyxy.shape[:-1] + (4,))
    wh = np.maximum(xyxy[..., 2:4] - xyxy[..., 0:2], 1.0, out=out[..., 2:4])
    out[..., 0:2] = xyxy[..., 0:2] + 0.5 * wh
    return out


# The image offset feature is (x - cx) / h times this (most road users: within +-1).
POSITION_SCALE = 0.1
_GLOBAL_OF_LOG_WH = np.array([[0.0, 1.0], [1.0, -1.0]])
_GLOBAL_OFFSET = np.array([-np.log(100.0), 0.0])


def history_features(h: Histories) -> tuple[np.ndarray, np.ndarray]:
    """Per-step features (S, K, FEATURES) and per-history features (S, GLOBAL_FEATURES).

    Positions are relative to the newest box and divided by its height; sizes are log ratios to
    it; times are in seconds. Per history: the newest box's log height and aspect ratio, and its
    centre's offset from the image centre in its own heights (a tenth of it, within +-5), with a
    flag that says whether the image is known (zero offset and flag where it is not).

    The offset is what perspective needs: an object at lateral distance X and height H shows at
    (x - cx) / h = X / H whatever the lens, so as the camera drives past, a box off-centre drifts
    outward and speeds up as it grows, one in the middle does not. Nothing depends on the focal
    length, and the image size only through its centre, so one model fits any camera whose
    optical axis is near the middle of its image.
    """
    xyxy = h.xyxy
    wh = np.maximum(xyxy[..., 2:4] - xyxy[..., 0:2], 1.0)
    centre = xyxy[..., 0:2] + 0.5 * wh
    ref_wh = wh[:, -1:]
    steps = np.empty(xyxy.shape[:2] + (FEATURES,), np.float32)
    steps[..., 0:2] = (centre - centre[:, -1:]) / ref_wh[..., 1:2]
    steps[..., 2:4] = np.log(wh / ref_wh)
    steps[..., 4] = h.dt
    steps[..., 5] = h.valid
    steps *= h.valid[..., None]
    glob = np.zeros((len(xyxy), GLOBAL_FEATURES), np.float32)
    glob[:, 0:2] = np.log(ref_wh[:, 0]) @ _GLOBAL_OF_LOG_WH + _GLOBAL_OFFSET  # log(h / 100), log(w / h)
    if h.image_centre is not None:
        offset = (centre[:, -1] - h.image_centre) * (POSITION_SCALE / ref_wh[:, 0, 1:2])
        known = np.isfinite(offset[:, 0])
        if not known.all():
            offset[~known] = 0.0
        # np.clip, at half its cost on a few rows
        np.minimum(np.maximum(offset, -5.0, out=offset), 5.0, out=glob[:, 2:4])
        glob[:, 4] = known
    return steps, glob


def future_targets(ref_xyxy: np.ndarray, future_xyxy: np.ndarray) -> np.ndarray:
    """Targets (S, T, 4) of future boxes (S, T, 4) in the frame of the newest box ``ref_xyxy``."""
    ref = cxcywh_at_least_1px(ref_xyxy)[:, None]
    box = cxcywh_at_least_1px(future_xyxy)
    return np.concatenate(
        [(box[..., 0:2] - ref[..., 0:2]) / ref[..., 3:4], np.log(box[..., 2:4] / ref[..., 2:4])], axis=-1
    )


def cxcywh_from_targets(ref_xyxy: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Inverse of ``future_targets``: (S, T, 4) cxcywh boxes."""
    ref = cxcywh_at_least_1px(ref_xyxy)[:, None]
    out = np.empty(targets.shape[:-1] + (4,))
    out[..., 0:2] = ref[..., 0:2] + targets[..., 0:2] * ref[..., 3:4]
    # np.clip and np.concatenate cost twice as much on a frame's few tracks
    out[..., 2:4] = ref[..., 2:4] * np.exp(np.minimum(np.maximum(targets[..., 2:4], -3.0), 3.0))
    return out


def boxes_from_targets(ref_xyxy: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Inverse of ``future_targets``: (S, T, 4) xyxy boxes."""
    box = cxcywh_from_targets(ref_xyxy, targets)
    return np.concatenate([box[..., 0:2] - box[..., 2:4] / 2, box[..., 0:2] + box[..., 2:4] / 2], axis=-1)


def spread_in_pixels(ref_xyxy: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Spreads (S, T, 4) in the targets' units with the centre's in pixels: positions are in
    heights of the newest box ``ref_xyxy`` (at least a pixel); sizes stay log ratios."""
    out = spread.copy()
    out[..., 0:2] *= cxcywh_at_least_1px(ref_xyxy)[:, None, 3:4]
    return out


@dataclass(frozen=True)
class Samples:
    """Prediction samples: the history at t and the true boxes at t + each horizon
    (``future`` (S, H, 4), ``has_future`` (S, H) where the trajectory has that box)."""

    histories: Histories
    future: np.ndarray
    has_future: np.ndarray
    horizons_s: tuple[float, ...]
    # (S, 2): trajectory index and box index of each sample's time t.
    origin: np.ndarray

    def __len__(self) -> int:
        return len(self.histories)


def make_samples(
    trajectories: Sequence[Trajectory],
    horizons_s: Sequence[float],
    interpolate: bool = False,
    truths: Sequence[Trajectory] | None = None,
) -> Samples:
    """Every time t of every trajectory with boxes at the frames t-3..t and a box at t + h for
    at least one horizon h (seconds).

    Without ``interpolate`` a future box must exist at that very time (``track eval-motion``);
    with it, a future between two boxes at most ``2 * STEP_S`` apart is interpolated linearly
    (training on trajectories of any frame rate). ``truths`` (one per trajectory) gives the
    future boxes instead of the trajectory itself: histories of detections, futures of the
    ground truth they were matched to.
    """
    horizons = np.asarray(horizons_s, np.float64)
    boxes, times, futures, has, origin, sizes, classes = [], [], [], [], [], [], []
    for j, tr in enumerate(trajectories):
        consecutive = np.zeros(len(tr.frame), bool)
        if len(tr.frame) >= MIN_HISTORY:
            span = tr.frame[MIN_HISTORY - 1 :] - tr.frame[: len(tr.frame) - MIN_HISTORY + 1]
            consecutive[MIN_HISTORY - 1 :] = span == MIN_HISTORY - 1
        for i in np.flatnonzero(consecutive):
            truth = tr if truths is None else truths[j]
            future, present = _future_boxes(truth, tr.time_s[i] + horizons, interpolate)
            if not present.any():
                continue
            picked = select_history(tr.time_s, i + 1, i)
            boxes.append(tr.xyxy[picked])
            times.append(tr.time_s[picked])
            futures.append(future)
            has.append(present)
            origin.append((j, i))
            sizes.append(tr.image_size)
            classes.append(tr.cls)
    if not boxes:
        raise ValueError("no trajectory has 4 consecutive boxes followed by a future box")
    return Samples(
        Histories.from_lists(boxes, times, sizes if any(z is not None for z in sizes) else None, classes),
        np.array(futures, np.float64),
        np.array(has, bool),
        tuple(float(h) for h in horizons),
        np.array(origin, np.int64),
    )


def _future_boxes(tr: Trajectory, when: np.ndarray, interpolate: bool) -> tuple[np.ndarray, np.ndarray]:
    t = tr.time_s
    right = np.clip(np.searchsorted(t, when - 1e-6), 0, len(t) - 1)
    exact = np.abs(t[right] - when) < 1e-6
    if not interpolate:
        return tr.xyxy[right], exact
    left = np.clip(right - 1, 0, len(t) - 1)
    gap = t[right] - t[left]
    inside = (when <= t[-1] + 1e-6) & (gap <= 2 * STEP_S + 1e-6)
    weight = np.where(gap > 0, (when - t[left]) / np.maximum(gap, 1e-9), 1.0)[:, None]
    boxes = tr.xyxy[left] * (1 - weight) + tr.xyxy[right] * weight
    boxes[exact] = tr.xyxy[right[exact]]
    return boxes, exact | inside


def histories_from_rings(
    xyxy: np.ndarray,
    time_s: np.ndarray,
    count: np.ndarray,
    stride: int,
    image_size: tuple[float, float] | None = None,
    motion_class: int = -1,
) -> tuple[Histories, np.ndarray]:
    """Histories of tracks from their ring buffers (``xyxy`` (n, R, 4), ``time_s`` (n, R),
    ``count`` (n,) boxes ever written), taking every ``stride``-th box back from the newest
    (thinning to about STEP_S apart, vectorised), in frames of ``image_size`` (width, height)
    where known, of tracks of one ``motion_class`` (index in MOTION_CLASSES; -1: unknown).
    Also returns (n,) rows with MIN_HISTORY boxes."""
    n, ring = time_s.shape
    ages, reach = _padded_ages(ring, stride)
    count = np.asarray(count)
    valid = ages[None, :] < count[:, None]
    # Padding repeats the oldest valid box (the oldest age read below the count), so that
    # features stay finite: ages past it read that box.
    oldest = np.minimum((np.maximum(count - 1, 0) // stride) * stride, reach)
    slot = (count[:, None] - 1 - np.minimum(ages[None, :], oldest[:, None])) % ring
    rows = np.arange(n)[:, None]
    boxes = xyxy[rows, slot].astype(np.float64)
    times = time_s[rows, slot]
    centre = None
    if image_size is not None:
        centre = np.full((n, 2), (image_size[0] / 2, image_size[1] / 2), np.float64)
    kinds = np.full(n, motion_class, np.int64)
    histories = Histories(boxes, times - times[:, -1:], valid, centre, kinds)
    return histories, valid.sum(axis=1) >= _min_read(ring, stride)


def _ring_ages(ring: int, stride: int) -> np.ndarray:
    """Ages (boxes back from the newest, oldest first) that ``histories_from_rings`` reads."""
    back = np.arange(HISTORY_LEN - 1, -1, -1) * stride
    return back[back < ring]


@lru_cache(maxsize=64)
def _padded_ages(ring: int, stride: int) -> tuple[np.ndarray, int]:
    """(HISTORY_LEN,) ages per history step, those a ring cannot hold beyond any count; and
    the oldest age that can be read."""
    back = _ring_ages(ring, stride)
    ages = np.full(HISTORY_LEN, np.iinfo(np.int64).max // 4)
    ages[HISTORY_LEN - len(back) :] = back
    ages.flags.writeable = False
    return ages, int(back[0]) if len(back) else 0


@lru_cache(maxsize=64)
def _min_read(ring: int, stride: int) -> int:
    return min(MIN_HISTORY, len(_ring_ages(ring, stride)))


def usable_rings(count: np.ndarray, ring: int, stride: int) -> np.ndarray:
    """(n,) which rings ``histories_from_rings`` finds usable, from their counts alone."""
    return np.asarray(count) >= _usable_count(ring, stride)


@lru_cache(maxsize=64)
def _usable_count(ring: int, stride: int) -> int:
    """The fewest boxes written that give ``histories_from_rings`` a usable history: it reads
    ceil(count / stride) of them, up to the ages it looks at, and needs MIN_HISTORY (or all)."""
    return (_min_read(ring, stride) - 1) * stride + 1


def interpolate_steps(step_boxes: np.ndarray, ahead_s: np.ndarray) -> np.ndarray:
    """Boxes at times ``ahead_s`` (T,) or (S, T) from boxes at steps of STEP_S (S, K+1, 4):
    linear between steps, constant velocity of the last step beyond the last one."""
    s, k1, _ = step_boxes.shape
    ahead = np.broadcast_to(ahead_s, (s,) + np.shape(ahead_s)[-1:]) / STEP_S
    ahead = np.maximum(ahead, 0.0)
    low = np.minimum(np.floor(ahead).astype(np.int64), k1 - 2)
    frac = (ahead - low)[..., None]
    rows = np.arange(s)[:, None]
    a, b = step_boxes[rows, low], step_boxes[rows, low + 1]
    return a + (b - a) * frac
