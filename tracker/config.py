"""Typed, frozen configuration, loaded from YAML with ``--set a.b=v`` overrides.

A YAML file lists only what differs from the defaults below; unknown keys and wrong
types are errors (``ConfigError``) that name the dotted key.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MOTION_KINDS = ("kalman", "lstm", "hybrid")
COST_KINDS = ("iou", "giou", "diou")
BOX_OUTPUTS = ("detection", "filtered")
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)

X264_TUNES = ("film", "animation", "grain", "stillimage", "psnr", "ssim", "fastdecode", "zerolatency")


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names the dotted key."""


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

    def validate(self, key: str) -> None:
        _one_of(self.cost, COST_KINDS, f"{key}.cost")
        for name in ("max_cost", "recovery_max_cost", "low_max_cost", "tentative_max_cost"):
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

    def validate(self, key: str) -> None:
        _in_range(self.low_score, -1e9, self.high_score, f"{key}.low_score")
        _positive(self.min_hits, f"{key}.min_hits")
        _in_range(self.max_lost_s, 0.0, 1e9, f"{key}.max_lost_s")
        _in_range(self.report_lost_s, 0.0, self.max_lost_s, f"{key}.report_lost_s")
        _one_of(self.output_box, BOX_OUTPUTS, f"{key}.output_box")
        _positive(self.history_len, f"{key}.history_len")


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

    def validate(self, key: str) -> None:
        _positive(self.frame_rate, f"{key}.frame_rate")
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


@dataclass(frozen=True)
class DetectorConfig:
    """Which detector, on which device, keeping which classes."""

    # builtin, onnx:PATH, torchvision:NAME or file:PATH (see ``tracker.detect``).
    kind: str = "builtin"
    device: str = "auto"
    # Local checkpoint for torchvision detectors; empty = torchvision's download and cache.
    weights: str = ""
    # Class names to keep; empty = road users (person, bicycle, car, motorcycle, bus, truck).
    classes: tuple[str, ...] = ()
    # Detections below this never reach the tracker (the tracker's own thresholds come after).
    score_threshold: float = 0.1
    # Built-in detector only: move box sides onto the colour edges in the image (tracker.detect.refine).
    refine_edges: bool = True
    # CPU threads for the detector; 0 = half the cores, so that decoding and encoding run
    # beside it instead of competing for the same cores.
    threads: int = 0

    def validate(self, key: str) -> None:
        _one_of(self.device, ("auto", "cpu", "cuda"), f"{key}.device")
        _in_range(self.score_threshold, 0.0, 1.0, f"{key}.score_threshold")
        _in_range(self.threads, 0, 1024, f"{key}.threads")


@dataclass(frozen=True)
class RenderConfig:
    """What the annotated video shows."""

    boxes: bool = True
    labels: bool = True
    trails: bool = True
    predicted_paths: bool = True
    # How far ahead the predicted path reaches.
    future_s: float = 1.0
    thickness: int = 2

    def validate(self, key: str) -> None:
        _positive(self.thickness, f"{key}.thickness")
        _positive(self.future_s, f"{key}.future_s")


@dataclass(frozen=True)
class SourceConfig:
    """Live sources (cameras, URLs): which frames to process, and reconnecting after a drop."""

    # "latest" processes the newest frame and drops (and counts) the ones it had no time for,
    # so latency stays bounded; "every" processes every frame.
    live_policy: str = "latest"
    # After a drop, reconnect with waits doubling from reconnect_initial_s up to
    # reconnect_max_s, for at most reconnect_budget_s per outage; then the run ends cleanly.
    reconnect_initial_s: float = 0.1
    reconnect_max_s: float = 4.0
    reconnect_budget_s: float = 60.0

    def validate(self, key: str) -> None:
        _one_of(self.live_policy, ("latest", "every"), f"{key}.live_policy")
        _positive(self.reconnect_initial_s, f"{key}.reconnect_initial_s")
        _positive(self.reconnect_max_s, f"{key}.reconnect_max_s")
        _in_range(self.reconnect_budget_s, 0.0, 1e9, f"{key}.reconnect_budget_s")


@dataclass(frozen=True)
class CameraMotionConfig:
    """Camera-motion compensation (tracker/camera.py)."""

    # Estimate the camera's own motion between frames and move the tracks by it before they
    # are matched. Needs frames: detection-file datasets never use it.
    enabled: bool = True

    def validate(self, key: str) -> None:
        pass


@dataclass(frozen=True)
class EncoderConfig:
    """The annotated video's H.264 encoder (x264)."""

    # CPU threads for the encoder; 0 = half the cores.
    threads: int = 0
    # Speed preset and constant rate factor (lower crf: better quality, larger file). Slower
    # presets make smaller files for the same quality but take CPU from the detector: on the
    # 720p highway clip with 2 cores, ultrafast encodes twice as fast as superfast (4.4 vs
    # 8.5 ms a frame) for files ~1.5x larger.
    preset: str = "ultrafast"
    crf: int = 23
    # Tune(s), comma separated, or "none". "zerolatency" has each frame written as soon as it
    # is encoded: nothing held back when a run is cut short, and the end of a run is not kept
    # waiting for the last frame (with ultrafast the stream is otherwise the same; with slower
    # presets it turns off lookahead, so "none" makes smaller files there).
    tune: str = "zerolatency"

    def validate(self, key: str) -> None:
        _in_range(self.threads, 0, 1024, f"{key}.threads")
        _one_of(self.preset, X264_PRESETS, f"{key}.preset")
        _in_range(self.crf, 0, 51, f"{key}.crf")
        if self.tune != "none":
            for tune in self.tune.split(","):
                _one_of(tune, X264_TUNES, f"{key}.tune")


@dataclass(frozen=True)
class RunConfig:
    """How the stages run: in threads or one after the other, bounded queues between them,
    detection batches, and the decoding and encoding threads' share of the CPU."""

    # Stages in their own threads (overlapping on several cores), or one after the other in
    # one thread: one core per video, for batches that process several videos side by side.
    threaded: bool = True
    # Frames waiting between two stages; bounds memory and latency.
    queue_size: int = 8
    # Frames per detector call (already decoded frames only: batching never waits), for
    # detectors that run a batch as one call (torch on a GPU); others get frames one at a time.
    batch_size: int = 4
    # Niceness added to the decoding and encoding threads (Linux), so that when every core is
    # busy the detector, usually the slowest stage, gets the CPU first; 0 leaves them alone.
    # The scheduler weighs it against other processes' threads too: on a machine shared with
    # other heavy work, 0 keeps decoding and encoding at their fair share.
    codec_thread_nice: int = 5
    # Beside a CPU detector (one with ``cpu_threads``), keep the decoding and encoding threads
    # on the cores its threads leave free, where there is one (Linux). Left to itself the
    # scheduler now and then runs them on the detector's core, which costs the detector more
    # than they gain: on the highway clip with 2 cores, the pipeline ran 2-5 % faster.
    codec_on_spare_cores: bool = True

    def validate(self, key: str) -> None:
        _positive(self.queue_size, f"{key}.queue_size")
        _positive(self.batch_size, f"{key}.batch_size")
        _in_range(self.codec_thread_nice, 0, 19, f"{key}.codec_thread_nice")


@dataclass(frozen=True)
class Config:
    """Top-level configuration, one section per stage."""

    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    camera_motion: CameraMotionConfig = field(default_factory=CameraMotionConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def validate(self) -> Config:
        for f in dataclasses.fields(self):
            getattr(self, f.name).validate(f.name)
        return self


# Keys of earlier versions, and where each went (the error for an old key names the new one).
RENAMED_KEYS = {
    "pipeline.queue_size": "run.queue_size",
    "pipeline.batch_size": "run.batch_size",
    "pipeline.threaded": "run.threaded",
    "pipeline.codec_thread_nice": "run.codec_thread_nice",
    "pipeline.codec_on_spare_cores": "run.codec_on_spare_cores",
    "pipeline.encoder_threads": "encoder.threads",
    "pipeline.encoder_preset": "encoder.preset",
    "pipeline.encoder_crf": "encoder.crf",
    "pipeline.encoder_tune": "encoder.tune",
    "pipeline.camera_motion": "camera_motion.enabled",
    "pipeline.live_policy": "source.live_policy",
    "pipeline.reconnect_max_s": "source.reconnect_max_s",
    "pipeline.reconnect_budget_s": "source.reconnect_budget_s",
}
RENAMED_SECTIONS = {"pipeline": "run, encoder, source and camera_motion"}


# ---------------------------------------------------------------- loading


def preset_path(name: str) -> Path:
    """A shipped config (``configs/NAME.yaml``): from the source tree, or from the installed
    package, where the wheel carries ``configs/`` as ``tracker/configs/``."""
    here = Path(__file__).resolve().parent
    for folder in (here.parent / "configs", here / "configs"):
        if (folder / f"{name}.yaml").is_file():
            return folder / f"{name}.yaml"
    raise FileNotFoundError(f"shipped config {name}.yaml not found next to the tracker package")


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load a YAML config (or the defaults when ``path`` is None) and apply ``a.b=v`` overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({_first_line(exc)})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
    for item in overrides:
        _apply_override(raw, item)
    return config_from_dict(raw)


def config_from_dict(raw: dict[str, Any]) -> Config:
    config = _build(Config, raw, "")
    return config.validate()


def config_to_dict(config: Any) -> Any:
    """A plain dict (YAML-ready) of a config dataclass."""
    if dataclasses.is_dataclass(config):
        return {f.name: config_to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, dict):
        return {k: config_to_dict(v) for k, v in config.items()}
    if isinstance(config, tuple):
        return [config_to_dict(v) for v in config]
    return config


def diff_from_default(config: Config) -> dict[str, Any]:
    """Only the keys whose values differ from the defaults (what a YAML file should list).

    ``per_class`` entries list only what differs from their own tracker section.
    """
    raw = config_to_dict(config)
    tracker = raw["tracker"]
    per_class = tracker.pop("per_class")
    out = _diff(raw, config_to_dict(Config()))
    out = {} if out is _SAME else out
    if per_class:
        diffs = {name: _diff(sub, tracker) for name, sub in per_class.items()}
        diffs = {name: d for name, d in diffs.items() if d is not _SAME}
        if diffs:
            out.setdefault("tracker", {})["per_class"] = {
                name: {k: v for k, v in d.items() if k != "per_class"} for name, d in diffs.items()
            }
    return out


def _diff(value: Any, default: Any) -> Any:
    if isinstance(value, dict) and isinstance(default, dict):
        out = {}
        for k, v in value.items():
            d = _diff(v, default.get(k))
            if d is not _SAME:
                out[k] = d
        return out if out else _SAME
    return _SAME if value == default else value


_SAME = object()


def _apply_override(raw: dict[str, Any], item: str) -> None:
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r}: expected KEY=VALUE, e.g. tracker.lifecycle.min_hits=3")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    node = raw
    parts = key.strip().split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{key}: {part} is not a section")
        node = child
    node[parts[-1]] = value


def _build(cls: type, raw: Any, key: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{key or 'config'}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        dotted = _join(key, str(unknown[0]))
        _check_renamed(dotted, raw[unknown[0]])
        raise ConfigError(f"unknown config key {dotted!r} (valid: {', '.join(sorted(names))})")
    kwargs = {}
    for name, value in raw.items():
        kwargs[name] = _convert(hints[name], value, _join(key, name), cls, raw)
    return cls(**kwargs)


def _check_renamed(dotted: str, value: Any) -> None:
    """Raise the error that names the new key, where ``dotted`` is a key (or a section) of an
    earlier version."""
    if dotted in RENAMED_KEYS:
        raise ConfigError(f"config key {dotted!r} is now {RENAMED_KEYS[dotted]!r}")
    if dotted in RENAMED_SECTIONS:
        for name in sorted(value) if isinstance(value, dict) else ():
            _check_renamed(f"{dotted}.{name}", value[name])
        raise ConfigError(f"config section {dotted!r} was split into {RENAMED_SECTIONS[dotted]}")


def _convert(hint: Any, value: Any, key: str, owner: type, raw: dict) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if origin is dict:
        return _convert_per_class(value, key, owner, raw)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        inner = typing.get_args(hint)[0]
        return tuple(_convert(inner, v, f"{key}[{i}]", owner, raw) for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"{key}: unsupported type")
    return _scalar(hint, value, key)


def _convert_per_class(value: Any, key: str, owner: type, raw: dict) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a mapping of class name to settings")
    base = {k: v for k, v in raw.items() if k != "per_class"}
    out = {}
    for name, sub in value.items():
        if not isinstance(sub, dict):
            raise ConfigError(f"{key}.{name}: expected a mapping")
        if "per_class" in sub:
            raise ConfigError(f"{key}.{name}.per_class: per_class cannot be nested")
        merged = _merge(base, sub)
        out[str(name)] = _build(owner, merged, f"{key}.{name}")
    return out


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _scalar(hint: Any, value: Any, key: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str and isinstance(value, str):
        return value
    expected = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"{key}: expected {expected}, got {value!r}")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _one_of(value: str, choices: tuple[str, ...], key: str) -> None:
    if value not in choices:
        raise ConfigError(f"{key}: expected one of {', '.join(choices)}, got {value!r}")


def _positive(value: float, key: str) -> None:
    if not value > 0:
        raise ConfigError(f"{key}: expected a positive number, got {value!r}")


def _in_range(value: float, low: float, high: float, key: str) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{key}: expected a value in [{low}, {high}], got {value!r}")


def cpu_threads(requested: int) -> int:
    """Threads for one CPU-heavy stage: ``requested``, or half the cores (at least one)."""
    if requested > 0:
        return requested
    return max(1, (os.cpu_count() or 2) // 2)
