"""The tracker's config section (``tracker``): motion, association, lifecycle, class groups and
per-class overrides. Typed and frozen; the reason for each default beside it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config_base import ConfigError
from .config_base import in_range as _in_range
from .config_base import one_of as _one_of
from .config_base import positive as _positive

MOTION_KINDS = ("kalman", "lstm", "hybrid")
COST_KINDS = ("iou", "giou", "diou")
BOX_OUTPUTS = ("detection", "filtered")


@dataclass(frozen=True)
class MotionConfig:
    """Kalman filter on the box state ``[cx, cy, w, h, vx, vy, vw, vh]`` (pixels, pixels/s).

    Noise standard deviations are fractions of the box's width (x, w) or height (y, h),
    so that near (large) and far (small) objects get proportionate uncertainty.
    """

    # kalman (constant velocity), lstm (learned predictions) or hybrid (Kalman one frame
    # ahead, learned beyond): see tracker/motion/learned.py.
    kind: str = "kalman"
    # LSTM checkpoint for lstm/hybrid; empty = the shipped weights.
    weights: str = ""
    # Detector box jitter, as a fraction of the box size (3 % measured best on KITTI).
    std_measurement: float = 0.03
    # Unmodelled acceleration, box sizes per second squared (ego-motion, braking, turning).
    std_acceleration: float = 3.0
    # Initial velocity uncertainty, box sizes per second (we start at zero velocity).
    std_velocity_init: float = 1.0

    def validate(self, key: str) -> None:
        _one_of(self.kind, MOTION_KINDS, f"{key}.kind")
        for name in ("std_measurement", "std_acceleration", "std_velocity_init"):
            _positive(getattr(self, name), f"{key}.{name}")


@dataclass(frozen=True)
class AssociationConfig:
    """Cost matrices and gates for the association rounds (cost 0 is a perfect match)."""

    # 1 - GIoU: measured best on KITTI of iou/giou/diou; still graded for boxes that barely
    # overlap, which plain IoU is not.
    cost: str = "giou"
    # Gate of round 1 (confident detections vs. confirmed and lost tracks): tight, so that
    # loose pairs cannot take a detection from the track it belongs to.
    max_cost: float = 0.5
    # Gate of the recovery round: leftovers of round 1 matched again with a looser gate
    # (0 = no recovery round).
    recovery_max_cost: float = 1.0
    # Gate of round 2 (low-score detections vs. remaining tracks): stricter, as in BYTE.
    low_max_cost: float = 0.6
    # Gate for tentative tracks, which have no velocity estimate yet.
    tentative_max_cost: float = 0.8
    # Gate of the re-finding round: lost tracks vs detections still free, against each lost
    # track's last observed box instead of its prediction (0 = no such round).
    refind_max_cost: float = 0.0
    # Centre gate of rounds 1 and 1b and of tentative tracks, in the motion model's predicted
    # standard deviations (``MotionModel.centre_std``; 0 = none): a detection whose centre is
    # further than this from the predicted one, in that metric (Mahalanobis in x and y), is
    # not matched. Confident predictions then match tightly and uncertain ones loosely.
    spread_gate: float = 0.0

    def validate(self, key: str) -> None:
        _one_of(self.cost, COST_KINDS, f"{key}.cost")
        _in_range(self.spread_gate, 0.0, 100.0, f"{key}.spread_gate")
        for name in (
            "max_cost",
            "recovery_max_cost",
            "low_max_cost",
            "tentative_max_cost",
            "refind_max_cost",
        ):
            _in_range(getattr(self, name), 0.0, 2.0, f"{key}.{name}")


@dataclass(frozen=True)
class LifecycleConfig:
    """Birth, confirmation, loss and removal of tracks. Times are seconds, not frames."""

    # Detections at or above this score take part in round 1 and may start tracks.
    high_score: float = 0.6
    # Detections below this score are ignored entirely.
    low_score: float = 0.1
    # An unmatched detection starts a track only at or above this score.
    new_track_score: float = 0.7
    # A confirmed track is reported once its best detection score has reached this, and from
    # then on: weak detections may extend a track, but only strong evidence makes it visible.
    report_score: float = 0.0
    # A track's evidence that it is real, which report_score thresholds: "max", its best
    # detection's score; "accumulate", 1 - prod(1 - score) over its detections: with calibrated
    # scores (precisions) the chance that not all of them were false.
    evidence: str = "max"
    # Consecutive matched frames before a new track is reported.
    min_hits: int = 2
    # A new track this confident is reported at once (1.01 = never).
    instant_confirm_score: float = 1.01
    # How long a lost track may be re-found before it is removed.
    max_lost_s: float = 3.0
    # Keep reporting a lost track's predicted box this long (0 = only matched tracks).
    report_lost_s: float = 0.0
    # Box reported for a matched track: the detection's own or the filtered estimate.
    output_box: str = "detection"
    # Recent boxes kept per track (ring buffer) for trails and learned motion.
    history_len: int = 30
    # A new track starts with the velocity of established tracks near it (within about this
    # many of its box heights), not still: see GroupTracker._neighbour_velocity. 0 = still.
    # On the KITTI dev split it cuts car id switches 212 -> 55 (RRC), 159 -> 79 (PointRCNN).
    birth_velocity_radius: float = 4.0

    def validate(self, key: str) -> None:
        _in_range(self.low_score, -1e9, self.high_score, f"{key}.low_score")
        _positive(self.min_hits, f"{key}.min_hits")
        _in_range(self.max_lost_s, 0.0, 1e9, f"{key}.max_lost_s")
        _in_range(self.report_lost_s, 0.0, self.max_lost_s, f"{key}.report_lost_s")
        _one_of(self.output_box, BOX_OUTPUTS, f"{key}.output_box")
        _one_of(self.evidence, ("max", "accumulate"), f"{key}.evidence")
        _positive(self.history_len, f"{key}.history_len")
        _in_range(self.birth_velocity_radius, 0.0, 1000.0, f"{key}.birth_velocity_radius")


@dataclass(frozen=True)
class ScoreMap:
    """A monotone map from a detector's own scores to calibrated ones: the share of its
    detections at that score that are real objects, measured by ``track calibrate``. Linear
    between the points, constant beyond the ends; no points = scores are used as they come.

    The tracker's score thresholds act on the mapped scores, so that one set of thresholds
    serves detectors whose raw scores differ (PointRCNN's logits, RRC's [0, 1] confidences).
    """

    # Raw scores, strictly increasing.
    raw: tuple[float, ...] = ()
    # Calibrated score at each raw score, non-decreasing, in [0, 1].
    calibrated: tuple[float, ...] = ()
    # How the map was fitted (isotonic or logistic): a record, not used by the tracker.
    method: str = ""

    def validate(self, key: str) -> None:
        if len(self.raw) != len(self.calibrated):
            raise ConfigError(
                f"{key}: raw and calibrated need as many points ({len(self.raw)} != {len(self.calibrated)})"
            )
        if len(self.raw) == 1:
            raise ConfigError(f"{key}: a map needs at least two points, or none")
        if not np.isfinite(self.raw).all():
            raise ConfigError(f"{key}.raw: scores must be finite numbers")
        if any(b <= a for a, b in zip(self.raw, self.raw[1:], strict=False)):
            raise ConfigError(f"{key}.raw: scores must increase strictly")
        if any(b < a for a, b in zip(self.calibrated, self.calibrated[1:], strict=False)):
            raise ConfigError(f"{key}.calibrated: a score map must not decrease")
        for value in self.calibrated:
            _in_range(value, 0.0, 1.0, f"{key}.calibrated")

    def __call__(self, scores):
        """The calibrated scores (``scores`` unchanged when the map is empty)."""
        if not self.raw:
            return scores
        return np.interp(scores, self.raw, self.calibrated).astype(np.float32)


DEFAULT_CLASS_GROUPS = (
    ("car", "van", "truck", "bus"),
    ("pedestrian", "person", "person_sitting"),
    ("cyclist", "bicycle", "motorcycle"),
)


@dataclass(frozen=True)
class TrackerConfig:
    """Everything the tracker needs, independent of where detections come from."""

    # Used only when frames carry no timestamps: time_s = frame_index / frame_rate.
    frame_rate: float = 30.0
    motion: MotionConfig = field(default_factory=MotionConfig)
    association: AssociationConfig = field(default_factory=AssociationConfig)
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    # Classes whose detections may update one another's tracks (label flicker keeps the id).
    # A class in no group forms a group of its own; different groups never match.
    class_groups: tuple[tuple[str, ...], ...] = DEFAULT_CLASS_GROUPS
    # Overrides per class group, keyed by any class name of the group, e.g. pedestrian.
    per_class: dict[str, TrackerConfig] = field(default_factory=dict)
    # A detection overlapping a stronger one of another class group by at least this IoU is
    # dropped before tracking (class-agnostic NMS across groups); 1.0 turns it off.
    cross_class_nms_iou: float = 1.0
    # Class groups that may suppress one another (any of their names); empty = all groups.
    cross_class_nms_classes: tuple[str, ...] = ()
    # Votes needed, relative to the current class, before a track changes class.
    class_switch_ratio: float = 1.5
    # Width and height factors applied about each incoming detection's centre: calibrates a
    # detector whose boxes are consistently too wide or tall for the objects (set per class).
    box_scale: tuple[float, float] = (1.0, 1.0)
    # The detector's scores -> calibrated scores, before any threshold (set per class).
    score_map: ScoreMap = field(default_factory=ScoreMap)

    def validate(self, key: str) -> None:
        _positive(self.frame_rate, f"{key}.frame_rate")
        self.score_map.validate(f"{key}.score_map")
        if len(self.box_scale) != 2:
            raise ConfigError(f"{key}.box_scale: expected [width, height] factors, got {self.box_scale}")
        for factor in self.box_scale:
            _in_range(factor, 0.1, 10.0, f"{key}.box_scale")
        self.motion.validate(f"{key}.motion")
        self.association.validate(f"{key}.association")
        self.lifecycle.validate(f"{key}.lifecycle")
        _in_range(self.class_switch_ratio, 1.0, 1e9, f"{key}.class_switch_ratio")
        _in_range(self.cross_class_nms_iou, 0.0, 1.0, f"{key}.cross_class_nms_iou")
        for name, sub in self.per_class.items():
            sub.validate(f"{key}.per_class.{name}")

    def for_class(self, class_name: str) -> TrackerConfig:
        """The settings for one class group: the overrides of ``per_class`` on top of these."""
        group = next((g for g in self.class_groups if class_name in g), (class_name,))
        for name in group:
            if name in self.per_class:
                return self.per_class[name]
        return self
