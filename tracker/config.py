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
    """Which detector, on which device, keeping which classes, and how it sees a frame."""

    # yolox-nano ... yolox-x, builtin, onnx:PATH, torchvision:NAME or file:PATH (``tracker.detect``).
    # YOLOX-nano: the only COCO weights that ship to these machines (benchmarks/detector_speed.py).
    kind: str = "yolox-nano"
    device: str = "auto"
    # Weights file (YOLOX .pth/.onnx, torchvision checkpoint); empty = the detector's own lookup
    # (YOLOX: $DRIVING_TRACKER_WEIGHTS, the user cache, then the official release).
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
    # YOLOX: long side of the whole-frame view in network pixels (multiple of 32); 0 = the
    # frame's own resolution. 416 (nano's own size) for the near and large road users: the
    # distant ones are left to the strip, which finds them at a fraction of a native-size pass.
    input_size: int = 416
    # YOLOX: square tiles of this many frame pixels at native resolution on top of the whole
    # frame (multiple of 32); 0 = no tiles.
    tile_size: int = 0
    # YOLOX: how much neighbouring tiles overlap (fraction of a tile).
    tile_overlap: float = 0.2
    # YOLOX: the band of rows the strip and tiles cover, as fractions of the frame height (top,
    # bottom); a forward-facing camera's distant road users sit in this band around the horizon.
    tile_band: tuple[float, float] = (0.35, 0.75)
    # YOLOX: also see the full-width strip of rows ``tile_band``, scaled to this many network
    # pixels wide (multiple of 32); 0 = no strip. 1920: a 1242-1280 px frame's strip seen 1.5 x
    # enlarged, where vehicles of 25-50 px are found (recall 0.60 -> 0.88 with the strip on the
    # labelled real frames, 2 x slower than the whole frame alone; benchmarks/detector_speed.py).
    band_size: int = 1920
    # YOLOX: IoU above which a box suppresses a weaker one of its class (within and across views).
    nms_iou: float = 0.45
    # YOLOX: what runs the network: auto = onnxruntime on a CPU (1.5-1.8 x faster there than
    # torch, measured with YOLOX-nano) and torch on a GPU (half precision, batches).
    runtime: str = "auto"

    def validate(self, key: str) -> None:
        _one_of(self.device, ("auto", "cpu", "cuda"), f"{key}.device")
        _in_range(self.score_threshold, 0.0, 1.0, f"{key}.score_threshold")
        for name in ("input_size", "tile_size", "band_size"):
            value = getattr(self, name)
            if value < 0 or value % 32:
                raise ConfigError(f"{key}.{name}: expected 0 or a positive multiple of 32, got {value}")
        _in_range(self.tile_overlap, 0.0, 0.9, f"{key}.tile_overlap")
        _one_of(self.runtime, ("auto", "torch", "onnxruntime"), f"{key}.runtime")
        _in_range(self.nms_iou, 0.0, 1.0, f"{key}.nms_iou")
        top, bottom = self.tile_band
        if not 0.0 <= top < bottom <= 1.0:
            raise ConfigError(f"{key}.tile_band: expected 0 <= top < bottom <= 1, got {list(self.tile_band)}")
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
class PipelineConfig:
    """Streaming: bounded queues between stages and detection batches."""

    # Frames waiting between two stages; bounds memory and latency.
    queue_size: int = 8
    # Frames per detector call (already decoded frames only: batching never waits), for
    # detectors that run a batch as one call (torch on a GPU); others get frames one at a time.
    batch_size: int = 4
    # CPU threads for the H.264 encoder; 0 = half the cores.
    encoder_threads: int = 0
    # x264 speed preset and constant rate factor of the annotated video (lower crf: better
    # quality, larger file). Slower presets make smaller files for the same quality but take
    # CPU from the detector: on the 720p highway clip with 2 cores, ultrafast encodes twice as
    # fast as superfast (4.4 vs 8.5 ms a frame) for files ~1.5x larger.
    encoder_preset: str = "ultrafast"
    encoder_crf: int = 23
    # x264 tune(s), comma separated, or "none". "zerolatency" has each frame written as
    # soon as it is encoded: nothing held back when a run is cut short, and the end of a run
    # is not kept waiting for the last frame (with ultrafast the stream is otherwise the same;
    # with slower presets it turns off lookahead, so "none" makes smaller files there).
    encoder_tune: str = "zerolatency"
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
    # Stages in their own threads (overlapping on several cores), or one after the other in
    # one thread: one core per video, for batches that process several videos side by side.
    threaded: bool = True
    # Estimate the camera's own motion between frames and move the tracks by it before they
    # are matched (tracker/camera.py). Needs frames: detection-file datasets never use it.
    camera_motion: bool = True
    # Live sources (cameras, URLs): "latest" processes the newest frame and drops (and counts)
    # the ones it had no time for, so latency stays bounded; "every" processes every frame.
    live_policy: str = "latest"
    # After a drop, reconnect with waits doubling from 0.1 s up to reconnect_max_s, for at
    # most reconnect_budget_s per outage; then the run ends cleanly.
    reconnect_max_s: float = 4.0
    reconnect_budget_s: float = 60.0

    def validate(self, key: str) -> None:
        _positive(self.queue_size, f"{key}.queue_size")
        _positive(self.batch_size, f"{key}.batch_size")
        _in_range(self.encoder_threads, 0, 1024, f"{key}.encoder_threads")
        _one_of(self.encoder_preset, X264_PRESETS, f"{key}.encoder_preset")
        _in_range(self.encoder_crf, 0, 51, f"{key}.encoder_crf")
        if self.encoder_tune != "none":
            for tune in self.encoder_tune.split(","):
                _one_of(tune, X264_TUNES, f"{key}.encoder_tune")
        _in_range(self.codec_thread_nice, 0, 19, f"{key}.codec_thread_nice")
        _one_of(self.live_policy, ("latest", "every"), f"{key}.live_policy")
        _positive(self.reconnect_max_s, f"{key}.reconnect_max_s")
        _in_range(self.reconnect_budget_s, 0.0, 1e9, f"{key}.reconnect_budget_s")


@dataclass(frozen=True)
class Config:
    """Top-level configuration, one section per stage."""

    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)

    def validate(self) -> Config:
        self.tracker.validate("tracker")
        self.detector.validate("detector")
        self.render.validate("render")
        self.pipeline.validate("pipeline")
        return self


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
        raise ConfigError(f"unknown config key {dotted!r} (valid: {', '.join(sorted(names))})")
    kwargs = {}
    for name, value in raw.items():
        kwargs[name] = _convert(hints[name], value, _join(key, name), cls, raw)
    return cls(**kwargs)


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
