"""Composes the stages: source -> detector -> tracker -> renderer -> sinks.

Stages run concurrently: decoding, detection and encoding each have a thread, joined by bounded
queues, so a slow stage holds the others back (backpressure) instead of filling memory.
Tracking and drawing run in the caller's thread, in frame order. An exception in any stage stops
the run and is raised in the caller; the outputs written so far are finalised (``run``). The
stages themselves live in ``tracker.stages``, shared with multi-stream runs.

The detector is usually the slowest stage, and on a small machine the others compete with it
for the cores: it takes frames in batches only where a batch runs as one call (a GPU), and the
decoding and encoding threads run nicer (``run.codec_thread_nice``) and, beside a CPU
detector, on the cores its threads leave free (``run.codec_on_spare_cores``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import Config, load_config
from .detect import Detector, detector_from_config
from .output_paths import check_outputs
from .outputs import StreamOutputs
from .source import Source, open_source
from .stages import (
    IteratorFeed,
    QueueFeed,
    Result,
    StageTimes,
    TrackStep,
    codec_cpus,
    decode_stage,
    detect_stage,
    detector_batch_size,
    frame_step_s,
)
from .threads import END, StageThread, codec_thread, next_item
from .tracks import Tracker

__all__ = ["Pipeline", "Result", "RunSummary", "Terminated"]


class Terminated(BaseException):  # noqa: N818 - named for the signal, like KeyboardInterrupt
    """Raised in the main thread on SIGTERM (by the CLI), so that the run ends like on Ctrl-C."""


@dataclass
class RunSummary:
    """What a run did: frames processed, distinct track ids, what the source skipped or
    dropped, where the outputs went, and whether (and why) it ended early."""

    frames: int = 0
    tracks: int = 0
    corrupt_frames_skipped: int = 0
    dropped_frames: int = 0
    reconnects: int = 0
    gaps_s: list[float] = field(default_factory=list)
    invalid_detections: int = 0
    wall_s: float = 0.0
    stage_s: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    error: BaseException | None = None
    outputs: list[Path] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    def stage_fps(self) -> dict[str, float]:
        return {k: (self.frames / v if v > 0 else float("inf")) for k, v in self.stage_s.items()}


class Pipeline:
    """Video in, tracks out. Use as a context manager, or call ``close()``.

    ``stream(source)`` yields a ``Result`` per frame (camera index, URL, file, folder, or any
    iterator of frames); ``run(...)`` also writes the annotated video and track files. Each call
    of either is a run of its own: a fresh tracker (ids from 1, its clock restarted) and fresh
    counters, so two runs on the same input give the same summary.
    """

    def __init__(self, config: Config, detector: Detector | None = None) -> None:
        self.config = config
        self.detector = detector if detector is not None else detector_from_config(config)
        self.class_names = tuple(self.detector.class_names)
        self.tracker = Tracker(config.tracker, self.class_names)
        self.codec_cpus = codec_cpus(self.detector, config.run)
        self.times = StageTimes()
        self.last_source: Source | None = None
        self.last_summary: RunSummary | None = None
        self._stop_request: type[BaseException] | None = None

    @classmethod
    def from_config(
        cls, path: str | Path | None = None, overrides=(), detector: Detector | None = None
    ) -> Pipeline:
        return cls(load_config(path, list(overrides)), detector)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.tracker.reset()

    def request_stop(self, reason: type[BaseException] = KeyboardInterrupt) -> None:
        """Ask a running ``run``/``stream`` to end at the next frame boundary by raising
        ``reason`` there (safe from a signal handler or another thread): outputs then hold
        whole frames only."""
        self._stop_request = reason

    @property
    def stop_requested(self) -> bool:
        return self._stop_request is not None

    def _check_stop(self) -> None:
        reason, self._stop_request = self._stop_request, None
        if reason is not None:
            raise reason()

    def _start_run(self) -> None:
        """Per-run state starts afresh: the tracker, the stage timings, the source."""
        self.tracker.reset()
        self.times = StageTimes()
        self.last_source = None

    def stream(self, source, fps: float | None = None) -> Iterator[Result]:
        """Track every frame of ``source``; a generator, so it also runs on endless streams."""
        self._start_run()
        yield from self._stream(source, fps)

    def _stream(self, source, fps: float | None) -> Iterator[Result]:
        if isinstance(source, (str, int, Path)):
            source = open_source(source, fps, live=self.config.source)  # image folders need fps
        if isinstance(source, Source):
            self.last_source = source
            nominal = source.fps
        else:
            nominal = fps or self.config.tracker.frame_rate
        step = TrackStep(self.tracker, frame_step_s(nominal, self.config.tracker.frame_rate), self.times)
        settings = self.config.run
        decoded = decode_stage(source, self.config.camera_motion.enabled, self.times)
        batch_size = detector_batch_size(self.detector, settings)
        if not settings.threaded:  # one after the other in this thread: one core per video
            for item in detect_stage(
                self.detector, IteratorFeed(decoded, self._check_stop), batch_size, self.times
            ):
                yield step(item)
            return
        stop = threading.Event()
        frames_q: queue.Queue = queue.Queue(maxsize=settings.queue_size)
        dets_q: queue.Queue = queue.Queue(maxsize=settings.queue_size)
        detected = detect_stage(self.detector, QueueFeed(frames_q, stop), batch_size, self.times)
        codec = codec_thread(settings.codec_thread_nice, self.codec_cpus)
        stages = [
            StageThread("decode", decoded, frames_q, stop, codec),
            StageThread("detect", detected, dets_q, stop),
        ]
        for stage in stages:
            stage.start()
        try:
            while (item := next_item(dets_q, self._check_stop)) is not END:
                yield step(item)
        finally:
            stop.set()
            for stage in stages:
                stage.join(timeout=5)

    def streams(self, sources, fps: float | None = None):
        """Track several sources at once through this pipeline's one detector, which batches
        frames across them; yields ``Result``s with their stream index. Each source has its
        own tracker; a slow or failing source does not hold up the others (``tracker.multi``)."""
        from .multi import MultiStream

        yield from MultiStream(self.config, self.detector, sources, fps)

    def run(
        self,
        source,
        out_video: str | Path | None = None,
        tracks_out: str | Path | None = None,
        tracks_format: str | None = None,
        fps: float | None = None,
        on_frame: Callable[[Result], None] | None = None,
        overwrite: bool = True,
    ) -> RunSummary:
        """Stream ``source`` and write the annotated video and/or track file (an existing one
        is replaced only with ``overwrite``; else ``FileExistsError`` before anything runs).

        Outputs go to temporary names and are renamed on success. If the run ends early (an
        exception in any stage, a full disk, Ctrl-C, ``Terminated``) the outputs are finalised up
        to the last frame written (see ``tracker.sink``), ``self.last_summary`` says how far it
        got and where the files went, and the exception is raised again.
        """
        check_outputs([source], out_video, tracks_out, tracks_format, overwrite)
        summary = RunSummary()
        self.last_summary = summary
        self._stop_request = None
        self._start_run()
        outputs = self._outputs(out_video, tracks_out, tracks_format, fps)
        started = time.perf_counter()
        try:
            for result in self._stream(source, fps):
                outputs.write(result, self.tracker)
                summary.frames += 1
                if on_frame is not None:
                    on_frame(result)
                self._check_stop()
        except BaseException as exc:
            summary.interrupted = True
            summary.error = exc
            if summary.frames == 0:  # nothing worth keeping: leave no empty files behind
                outputs.abort()
            outputs.close(False, summary.outputs)
            self._summarise(summary, started, outputs)
            raise
        outputs.close(True, summary.outputs)
        self._summarise(summary, started, outputs)
        return summary

    def _outputs(self, out_video, tracks_out, tracks_format: str | None, fps: float | None) -> StreamOutputs:
        return StreamOutputs(
            self.config,
            self.class_names,
            self.times,
            out_video,
            tracks_out,
            tracks_format,
            fps=lambda: self._video_fps(fps),
            threaded=self.config.run.threaded,
            cpus=self.codec_cpus,
        )

    def _summarise(self, summary: RunSummary, started: float, outputs: StreamOutputs) -> None:
        summary.tracks = self.tracker.tracks_reported
        summary.invalid_detections = self.tracker.invalid_detections
        summary.wall_s = time.perf_counter() - started
        summary.stage_s = dict(self.times.seconds)
        if outputs.encode_s is not None:
            summary.stage_s["encode"] = outputs.encode_s
        if self.last_source is not None:
            stats = self.last_source.stats
            summary.corrupt_frames_skipped = stats.corrupt_skipped
            summary.dropped_frames = stats.dropped
            summary.reconnects = stats.reconnects
            summary.gaps_s = list(stats.gaps_s)

    def _video_fps(self, fps: float | None) -> float:
        if fps:
            return fps
        if self.last_source is not None and np.isfinite(self.last_source.fps) and self.last_source.fps > 0:
            return self.last_source.fps
        return self.config.tracker.frame_rate
