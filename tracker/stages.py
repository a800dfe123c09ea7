"""The streaming stages that every run shares (``Pipeline``, multi-stream, batch): decoding with
camera-motion estimation, detection in batches, and the per-frame tracking step.

Each stage is a generator of ``FrameItem``s. A run chains them in its own thread (inline: one
core per video) or runs decoding and detection in threads of their own joined by bounded
queues (``tracker.threads``); the detector takes its frames from a ``Feed``, which says how a
batch forms: the next frames of an iterator, what a decoding thread has ready, or (multi-stream)
the frames ready across streams.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Protocol

import numpy as np

from .camera import CameraMotion
from .config import RunConfig
from .detect import Detector
from .source import Frame
from .structures import Detections, Tracks
from .threads import END
from .tracks import Tracker


@dataclass
class Result:
    """One frame's outcome: the frame (image, index, timestamp), the tracks reported for it,
    and the stream it belongs to (0 but in multi-stream runs)."""

    frame: Frame
    tracks: Tracks
    stream: int = 0

    @property
    def timestamp(self) -> float:
        return self.frame.time_s


@dataclass
class StageTimes:
    """Seconds each stage spent on its own work in one run, and the detector's batches."""

    seconds: dict[str, float] = field(
        default_factory=lambda: {"decode": 0.0, "camera": 0.0, "detect": 0.0, "track": 0.0}
    )
    batches: int = 0
    frames_detected: int = 0

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds


@dataclass(slots=True)
class FrameItem:
    """A frame on its way through the stages: the camera's motion since the previous frame of
    its stream (None when not estimated), its stream, and its detections once detected."""

    frame: Frame
    warp: np.ndarray | None
    stream: int = 0
    dets: Detections | None = None


def as_frames(source: Iterable) -> Iterator[Frame]:
    """Frames from a ``Source``, or from any iterable of ``Frame`` or of images."""
    for i, item in enumerate(source):
        if isinstance(item, Frame):
            yield item
        else:
            yield Frame(i, float("nan"), np.asarray(item))


def decode_stage(
    source: Iterable, camera_motion: bool, times: StageTimes, stream: int = 0
) -> Iterator[FrameItem]:
    """Read frames, and estimate the camera's motion since the previous one (here, beside
    decoding, because the detector is usually the slowest stage)."""
    frames = iter(as_frames(source))
    camera = CameraMotion() if camera_motion else None
    while True:
        start = time.perf_counter()
        frame = next(frames, None)
        times.seconds["decode"] += time.perf_counter() - start
        if frame is None:
            return
        warp = None
        if camera is not None:
            start = time.perf_counter()
            warp = camera.update(frame.image)
            times.seconds["camera"] += time.perf_counter() - start
        yield FrameItem(frame, warp, stream)


class Feed(Protocol):
    """Where the detector's batches come from: ``take(limit)`` returns 1 to ``limit`` items, or
    none once the input has ended."""

    def take(self, limit: int) -> list[FrameItem]: ...


class IteratorFeed:
    """Batches of the next ``limit`` items of an iterator in the same thread (inline runs);
    ``check`` is called before each batch (it may raise, to stop the run)."""

    def __init__(self, items: Iterable[FrameItem], check: Callable[[], None] = lambda: None) -> None:
        self.items, self.check = iter(items), check

    def take(self, limit: int) -> list[FrameItem]:
        self.check()
        return list(islice(self.items, limit))


class QueueFeed:
    """Batches from a decoding thread's queue: the first item waited for, then whatever is
    already decoded, up to ``limit`` (batching never waits for a full batch)."""

    def __init__(self, q: queue.Queue, stop: threading.Event) -> None:
        self.q, self.stop = q, stop
        self.ended = False

    def _get(self, block: bool):
        while True:
            try:
                item = self.q.get(timeout=0.1) if block else self.q.get_nowait()
            except queue.Empty:
                if not block or self.stop.is_set():
                    return None
                continue
            if isinstance(item, BaseException):
                raise item
            return item

    def take(self, limit: int) -> list[FrameItem]:
        batch: list[FrameItem] = []
        item = None if self.ended else self._get(block=True)
        while item is not None:
            if item is END:
                self.ended = True
                break
            batch.append(item)
            if len(batch) >= limit:
                break
            item = self._get(block=False)
        return batch


def detect_stage(detector: Detector, feed: Feed, batch_size: int, times: StageTimes) -> Iterator[FrameItem]:
    """Detect in batches of at most ``batch_size`` frames, as ``feed`` forms them."""
    while batch := feed.take(batch_size):
        start = time.perf_counter()
        results = detector.detect([item.frame for item in batch])
        times.seconds["detect"] += time.perf_counter() - start
        times.batches += 1
        times.frames_detected += len(batch)
        if len(results) != len(batch):
            raise RuntimeError(f"detector returned {len(results)} results for {len(batch)} frames")
        for item, dets in zip(batch, results, strict=True):
            if not isinstance(dets, Detections):
                raise TypeError(f"detector returned {type(dets).__name__}, expected Detections")
            item.dets = dets
            yield item


def frame_step_s(fps: float | None, default_fps: float) -> float:
    """Seconds between frames that carry no timestamp: at ``fps`` where it is known."""
    if fps and np.isfinite(fps) and fps > 0:
        return 1.0 / fps
    return 1.0 / default_fps


class TrackStep:
    """The per-frame step of one stream: the frame's time (its timestamp, else its index at
    ``step_s`` seconds a frame), the tracker's update, the ``Result``."""

    def __init__(self, tracker: Tracker, step_s: float, times: StageTimes) -> None:
        self.tracker, self.step_s, self.times = tracker, step_s, times

    def __call__(self, item: FrameItem) -> Result:
        start = time.perf_counter()
        frame = item.frame
        time_s = frame.time_s if np.isfinite(frame.time_s) else frame.index * self.step_s
        size = None if frame.image is None else (frame.image.shape[1], frame.image.shape[0])
        tracks = self.tracker.update(item.dets, time_s=time_s, camera_motion=item.warp, image_size=size)
        self.times.seconds["track"] += time.perf_counter() - start
        return Result(Frame(frame.index, time_s, frame.image), tracks, item.stream)


def detector_batch_size(detector: Detector, settings: RunConfig) -> int:
    """``settings.batch_size`` where the detector runs a batch as one call (on a GPU);
    otherwise 1, so that each frame's result moves on as soon as it is ready."""
    return settings.batch_size if getattr(detector, "runs_batches", True) else 1


def codec_cpus(detector: Detector, settings: RunConfig) -> frozenset[int] | None:
    """The cores for the decoding and encoding threads (``codec_on_spare_cores``): those a CPU
    detector's threads (its ``cpu_threads``) leave free, or None (the scheduler's choice) where
    it runs elsewhere, has no such attribute, or would leave no core."""
    if not settings.codec_on_spare_cores or not hasattr(os, "sched_getaffinity"):
        return None
    busy = int(getattr(detector, "cpu_threads", 0) or 0)
    allowed = sorted(os.sched_getaffinity(0))
    if busy <= 0 or len(allowed) <= busy:
        return None
    return frozenset(allowed[busy:])
