"""Typed, frozen configuration, loaded from YAML with ``--set a.b=v`` overrides.

A YAML file lists only what differs from the defaults below; unknown keys and wrong
types are errors (``ConfigError``) that name the dotted key.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config_base import SAME, ConfigError, apply_override, build, config_to_dict, diff, first_line
from .config_base import in_range as _in_range
from .config_base import one_of as _one_of
from .config_base import positive as _positive
from .config_tracker import (
    BOX_OUTPUTS,
    COST_KINDS,
    DEFAULT_CLASS_GROUPS,
    MOTION_KINDS,
    AssociationConfig,
    LifecycleConfig,
    MotionConfig,
    TrackerConfig,
)

__all__ = [  # the tracker's sections live in config_tracker; every section is importable here
    "BOX_OUTPUTS",
    "COST_KINDS",
    "DEFAULT_CLASS_GROUPS",
    "MOTION_KINDS",
    "AssociationConfig",
    "CameraMotionConfig",
    "Config",
    "ConfigError",
    "DetectorConfig",
    "EncoderConfig",
    "LifecycleConfig",
    "MotionConfig",
    "RenderConfig",
    "RunConfig",
    "SourceConfig",
    "TrackerConfig",
    "config_from_dict",
    "config_to_dict",
    "cpu_threads",
    "diff_from_default",
    "load_config",
    "preset_names",
    "preset_path",
    "replace_section",
]
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
    # Detections below this never reach the tracker (the tracker's own thresholds come after);
    # 0 = the detector's own floor: 0.25 for YOLOX (on the labelled real frames detections
    # under it are mostly false; with it, vehicles shown as tracks 0.761 -> 0.750 and shown
    # tracks that are real 0.947 -> 0.973: benchmarks/real_tracks.py), 0.1 for the others.
    score_threshold: float = 0.0
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
    # frame (multiple of 32); 0 = no tiles. Off: 320-px tiles over the band found fewer of the
    # labelled vehicles than the strip (recall 0.86 against 0.91 at score 0.25), more slowly.
    tile_size: int = 0
    # YOLOX: how much neighbouring tiles overlap (fraction of a tile).
    tile_overlap: float = 0.2
    # YOLOX: the band of rows the strip and tiles cover, as fractions of the frame height (top,
    # bottom); a forward-facing camera's distant road users sit in this band around the horizon.
    tile_band: tuple[float, float] = (0.35, 0.75)
    # YOLOX: also see the full-width strip of rows ``tile_band``, scaled to this many network
    # pixels wide (multiple of 32); 0 = no strip. 1600: a 1242-1280 px frame's strip seen
    # 1.25-1.3 x enlarged, where vehicles of 25-50 px are found: on the labelled real frames
    # recall 0.67 -> 0.87 at score 0.25 (1920: 0.91, but 8.2 instead of 10.7 frames/s for the
    # whole pipeline on the 720p clip, at the 8 frames/s bar; benchmarks/detector_speed.py).
    band_size: int = 1600
    # YOLOX: IoU above which a box suppresses a weaker one of its class (within and across views).
    nms_iou: float = 0.45
    # YOLOX: IoU above which a box suppresses a weaker one of any class: one vehicle found as
    # both car and truck was a third of the false boxes on the labelled real frames; 1 = off.
    cross_class_iou: float = 0.7
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
        _in_range(self.cross_class_iou, 0.0, 1.0, f"{key}.cross_class_iou")
        top, bottom = self.tile_band
        if not 0.0 <= top < bottom <= 1.0:
            raise ConfigError(f"{key}.tile_band: expected 0 <= top < bottom <= 1, got {list(self.tile_band)}")
        _in_range(self.threads, 0, 1024, f"{key}.threads")

    def score_floor(self, detector_default: float = 0.1) -> float:
        """``score_threshold``, or the detector's own floor where it is 0."""
        return self.score_threshold if self.score_threshold > 0 else detector_default


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


def _preset_folder() -> Path | None:
    """The shipped configs: ``configs/`` of the source tree, or in the installed package, where
    the wheel carries ``configs/`` as ``tracker/configs/``."""
    here = Path(__file__).resolve().parent
    for folder in (here / "configs", here.parent / "configs"):
        if (folder / "default.yaml").is_file():
            return folder
    return None


def preset_names() -> list[str]:
    """The names of the shipped configs (``default``, ``kitti``, ...), for ``--config NAME``."""
    folder = _preset_folder()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder else []


def preset_path(name: str) -> Path:
    """The file of the shipped config ``name`` (see ``preset_names``)."""
    folder = _preset_folder()
    if folder is None or not (folder / f"{name}.yaml").is_file():
        names = ", ".join(preset_names()) or "none found next to the tracker package"
        raise FileNotFoundError(f"no shipped config named {name!r} (shipped: {names})")
    return folder / f"{name}.yaml"


def _is_preset_name(path: str | Path) -> bool:
    """``kitti`` names a preset; ``kitti.yaml``, ``./kitti`` or ``configs/kitti.yaml`` a file."""
    text = str(path)
    return not Path(text).exists() and "/" not in text and os.sep not in text and not Path(text).suffix


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load a config and apply ``a.b=v`` overrides, in order: what is given last wins (an
    override of a ``tracker`` key also replaces that key in every ``tracker.per_class`` section).

    ``path``: a YAML file, the name of a shipped preset (``"default"``, ``"kitti"``: see
    ``preset_names()``), or None for the defaults of the dataclasses."""
    raw: dict[str, Any] = {}
    if path is not None:
        path = preset_path(str(path)) if _is_preset_name(path) else Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({first_line(exc)})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
    for item in overrides:
        apply_override(raw, item)
    return config_from_dict(raw)


def config_from_dict(raw: dict[str, Any]) -> Config:
    """A checked ``Config`` from a plain mapping (a YAML file's content)."""
    if isinstance(raw, dict):
        for name in sorted(set(raw) - {f.name for f in dataclasses.fields(Config)}):
            _check_renamed(str(name), raw[name])
    return build(Config, raw, "").validate()


def replace_section(config: Config, section: str, **changes: Any) -> Config:
    """``config`` with ``changes`` to the fields of one section (e.g. ``detector``), checked."""
    part = getattr(config, section, None)
    if not dataclasses.is_dataclass(part):
        raise ConfigError(f"unknown config section {section!r}")
    new = build(type(part), {**config_to_dict(part), **changes}, section)
    return dataclasses.replace(config, **{section: new}).validate()


def diff_from_default(config: Config) -> dict[str, Any]:
    """Only the keys whose values differ from the defaults (what a YAML file should list).

    ``per_class`` entries list only what differs from their own tracker section.
    """
    raw = config_to_dict(config)
    tracker = raw["tracker"]
    per_class = tracker.pop("per_class")
    out = diff(raw, config_to_dict(Config()))
    out = {} if out is SAME else out
    if per_class:
        diffs = {name: diff(sub, tracker) for name, sub in per_class.items()}
        diffs = {name: d for name, d in diffs.items() if d is not SAME}
        if diffs:
            out.setdefault("tracker", {})["per_class"] = {
                name: {k: v for k, v in d.items() if k != "per_class"} for name, d in diffs.items()
            }
    return out


def _check_renamed(dotted: str, value: Any) -> None:
    """Raise the error that names the new key, where ``dotted`` is a key (or a section) of an
    earlier version."""
    if dotted in RENAMED_KEYS:
        raise ConfigError(f"config key {dotted!r} is now {RENAMED_KEYS[dotted]!r}")
    if dotted in RENAMED_SECTIONS:
        for name in sorted(value) if isinstance(value, dict) else ():
            _check_renamed(f"{dotted}.{name}", value[name])
        raise ConfigError(f"config section {dotted!r} was split into {RENAMED_SECTIONS[dotted]}")


def cpu_threads(requested: int) -> int:
    """Threads for one CPU-heavy stage: ``requested``, or half the cores (at least one)."""
    if requested > 0:
        return requested
    return max(1, (os.cpu_count() or 2) // 2)
