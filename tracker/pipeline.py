"""Composes the stages: source -> detector -> tracker -> renderer -> sinks.

Stages run concurrently: decoding, detection and encoding each have a thread, joined by bounded
queues, so a slow stage holds the others back (backpressure) instead of filling memory.
Tracking and drawing run in the caller's thread, in frame order. An exception in any stage stops
the run and is raised in the caller; the outputs written so far are finalised (``run``).

The detector is usually the slowest stage, and on a small machine the others compete with it
for the cores: it takes frames in batches only where a batch runs as one call (a GPU), and the
decoding and encoding threads run nicer (``pipeline.codec_thread_nice``) and, beside a CPU
detector, on the cores its threads leave free (``pipeline.codec_on_spare_cores``).
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .camera import CameraMotion
from .config import Config, PipelineConfig, cpu_threads, load_config
from .detect import Detector, detector_from_config
from .render import Renderer
from .sink import TrackWriter, VideoWriter, track_format_for
from .source import Frame, LiveOptions, Source, open_source
from .structures import Detections, Tracks
from .tracks import Tracker

_END = object()


class Terminated(BaseException):  # noqa: N818 - named for the signal, like KeyboardInterrupt
    """Raised in the main thread on SIGTERM (by the CLI), so that the run ends like on Ctrl-C."""


@dataclass
class Result:
    """One frame's outcome: the frame (image, index, timestamp) and the tracks reported for it."""

    frame: Frame
    tracks: Tracks

    @property
    def timestamp(self) -> float:
        return self.frame.time_s


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


class _Stage(threading.Thread):
    """A worker thread that forwards its exception to the consumer through its output queue."""

    def __init__(self, name: str, work: Callable[[], None], out: queue.Queue, stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.work, self.out, self.stop = work, out, stop

    def run(self) -> None:
        try:
            self.work()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer thread
            with contextlib.suppress(AttributeError, TypeError):
                exc.stage = self.name  # type: ignore[attr-defined]  # for the error message
            put_until_stopped(self.out, exc, self.stop)
        finally:
            put_until_stopped(self.out, _END, self.stop)


def lower_thread_priority(increment: int) -> None:
    """Make the calling thread ``increment`` nicer. Linux only: there a thread's own id names
    it to ``setpriority``; elsewhere the same call would reach a whole process."""
    if increment <= 0 or not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    with contextlib.suppress(OSError):
        nice = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, nice + increment))


def keep_thread_on(cpus: frozenset[int] | None) -> None:
    """Keep the calling thread on ``cpus`` (Linux; None or elsewhere: leave it be)."""
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return
    with contextlib.suppress(OSError):
        os.sched_setaffinity(threading.get_native_id(), cpus)


def codec_cpus(detector: Detector, settings: PipelineConfig) -> frozenset[int] | None:
    """The cores for the decoding and encoding threads (``pipeline.codec_on_spare_cores``):
    those a CPU detector's threads (its ``cpu_threads``) leave free, or None (the scheduler's
    choice) where it runs elsewhere, has no such attribute, or would leave no core."""
    if not settings.codec_on_spare_cores or not hasattr(os, "sched_getaffinity"):
        return None
    busy = int(getattr(detector, "cpu_threads", 0) or 0)
    allowed = sorted(os.sched_getaffinity(0))
    if busy <= 0 or len(allowed) <= busy:
        return None
    return frozenset(allowed[busy:])


def put_until_stopped(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Put ``item`` unless ``stop`` is set first; False when it was not put."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue):
    item = q.get()
    if isinstance(item, BaseException):
        raise item
    return item


def _as_frames(source) -> Iterable[Frame]:
    """Frames from a ``Source``, or from any iterable of ``Frame`` or of images."""
    for i, item in enumerate(source):
        if isinstance(item, Frame):
            yield item
        else:
            yield Frame(i, float("nan"), np.asarray(item))


class Pipeline:
    """Video in, tracks out. Use as a context manager, or call ``close()``.

    ``stream(source)`` yields a ``Result`` per frame (camera index, URL, file, folder, or any
    iterator of frames); ``run(...)`` also writes the annotated video and track files.
    """

    def __init__(self, config: Config, detector: Detector | None = None) -> None:
        self.config = config
        self.detector = detector if detector is not None else detector_from_config(config)
        self.class_names = tuple(self.detector.class_names)
        self.tracker = Tracker(config.tracker, self.class_names)
        self.codec_cpus = codec_cpus(self.detector, config.pipeline)
        self.stage_s: dict[str, float] = {"decode": 0.0, "camera": 0.0, "detect": 0.0, "track": 0.0}
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

    def _next(self, q: queue.Queue):
        """The next item of the last stage, waking up to honour ``request_stop``."""
        while True:
            self._check_stop()
            try:
                item = q.get(timeout=0.2)
            except queue.Empty:
                continue
            if isinstance(item, BaseException):
                raise item
            return item

    def live_options(self) -> LiveOptions:
        """Policy and reconnection of live sources, from ``config.pipeline``."""
        return LiveOptions.from_config(self.config.pipeline)

    def stream(self, source, fps: float | None = None) -> Iterator[Result]:
        """Track every frame of ``source``; a generator, so it also runs on endless streams."""
        if isinstance(source, (str, int, Path)):
            source = open_source(
                source, fps, default_fps=self.config.tracker.frame_rate, live=self.live_options()
            )
        if isinstance(source, Source):
            self.last_source = source
            nominal = source.fps
        else:
            nominal = fps or self.config.tracker.frame_rate
        step = (
            1.0 / nominal
            if nominal and np.isfinite(nominal) and nominal > 0
            else 1.0 / self.config.tracker.frame_rate
        )
        if not self.config.pipeline.threaded:
            yield from self._stream_inline(source, step)
            return
        stop = threading.Event()
        frames_q: queue.Queue = queue.Queue(maxsize=self.config.pipeline.queue_size)
        dets_q: queue.Queue = queue.Queue(maxsize=self.config.pipeline.queue_size)
        stages = [
            _Stage("decode", lambda: self._decode(source, frames_q, stop), frames_q, stop),
            _Stage("detect", lambda: self._detect(frames_q, dets_q, stop), dets_q, stop),
        ]
        for stage in stages:
            stage.start()
        try:
            while True:
                item = self._next(dets_q)
                if item is _END:
                    return
                frame, warp, dets = item
                start = time.perf_counter()
                time_s = frame.time_s if np.isfinite(frame.time_s) else frame.index * step
                tracks = self.tracker.update(dets, time_s=time_s, camera_motion=warp)
                self.stage_s["track"] += time.perf_counter() - start
                yield Result(Frame(frame.index, time_s, frame.image), tracks)
        finally:
            stop.set()
            for stage in stages:
                stage.join(timeout=5)

    def _stream_inline(self, source, step: float) -> Iterator[Result]:
        """The same stages one after the other in this thread (``pipeline.threaded: false``):
        one core per video, for batches that run many videos side by side."""
        frames = iter(_as_frames(source))
        camera = CameraMotion() if self.config.pipeline.camera_motion else None
        batch_size = detector_batch_size(self.detector, self.config.pipeline)
        while True:
            self._check_stop()
            start = time.perf_counter()
            batch = [f for f in (next(frames, None) for _ in range(batch_size)) if f is not None]
            self.stage_s["decode"] += time.perf_counter() - start
            if not batch:
                return
            start = time.perf_counter()
            warps = [camera.update(f.image) if camera is not None else None for f in batch]
            self.stage_s["camera"] += time.perf_counter() - start
            start = time.perf_counter()
            results = self.detector.detect(batch)
            self.stage_s["detect"] += time.perf_counter() - start
            for frame, warp, dets in zip(batch, warps, results, strict=True):
                start = time.perf_counter()
                time_s = frame.time_s if np.isfinite(frame.time_s) else frame.index * step
                tracks = self.tracker.update(dets, time_s=time_s, camera_motion=warp)
                self.stage_s["track"] += time.perf_counter() - start
                yield Result(Frame(frame.index, time_s, frame.image), tracks)

    def streams(self, sources, fps: float | None = None):
        """Track several sources at once through this pipeline's one detector, which batches
        frames across them; yields ``tracker.multi.StreamResult`` (stream index, frame,
        tracks). Each source has its own tracker; a slow or failing source does not hold up the
        others (see ``tracker.multi``)."""
        from .multi import MultiStream

        yield from MultiStream(self.config, self.detector, sources, fps)

    def _decode(self, source, out: queue.Queue, stop: threading.Event) -> None:
        """Read frames, and estimate the camera's motion since the previous one (here, beside
        decoding, because the detector is usually the slowest stage)."""
        lower_thread_priority(self.config.pipeline.codec_thread_nice)
        keep_thread_on(self.codec_cpus)
        iterator = iter(_as_frames(source))
        camera = CameraMotion() if self.config.pipeline.camera_motion else None
        while not stop.is_set():
            start = time.perf_counter()
            frame = next(iterator, None)
            self.stage_s["decode"] += time.perf_counter() - start
            if frame is None:
                return
            warp = None
            if camera is not None:
                start = time.perf_counter()
                warp = camera.update(frame.image)
                self.stage_s["camera"] += time.perf_counter() - start
            if not put_until_stopped(out, (frame, warp), stop):
                return

    def _detect(self, inp: queue.Queue, out: queue.Queue, stop: threading.Event) -> None:
        batch_size = detector_batch_size(self.detector, self.config.pipeline)
        ended = False
        while not ended and not stop.is_set():
            batch = []
            item = _get(inp)
            while True:
                if item is _END:
                    ended = True
                    break
                batch.append(item)
                if len(batch) >= batch_size:
                    break
                try:  # take what is already decoded, without waiting for a full batch
                    item = inp.get_nowait()
                    if isinstance(item, BaseException):
                        raise item
                except queue.Empty:
                    break
            if not batch:
                continue
            start = time.perf_counter()
            results = self.detector.detect([frame for frame, _ in batch])
            self.stage_s["detect"] += time.perf_counter() - start
            if len(results) != len(batch):
                raise RuntimeError(f"detector returned {len(results)} results for {len(batch)} frames")
            for (frame, warp), dets in zip(batch, results, strict=True):
                if not isinstance(dets, Detections):
                    raise TypeError(f"detector returned {type(dets).__name__}, expected Detections")
                if not put_until_stopped(out, (frame, warp, dets), stop):
                    return

    def run(
        self,
        source,
        out_video: str | Path | None = None,
        tracks_out: str | Path | None = None,
        tracks_format: str | None = None,
        fps: float | None = None,
        on_frame: Callable[[Result], None] | None = None,
    ) -> RunSummary:
        """Stream ``source`` and write the annotated video and/or track file.

        Outputs go to temporary names and are renamed on success. If the run ends early (an
        exception in any stage, a full disk, Ctrl-C, ``Terminated``) the outputs are finalised up
        to the last frame written (see ``tracker.sink``), ``self.last_summary`` says how far it
        got and where the files went, and the exception is raised again.
        """
        summary = RunSummary()
        self.last_summary = summary
        self._stop_request = None
        renderer = Renderer(self.config.render, self.class_names)
        writer: _EncoderThread | None = None
        track_writer = None
        if tracks_out is not None:
            path = Path(tracks_out)
            track_writer = TrackWriter(path, track_format_for(path, tracks_format), self.class_names)
        reported_before = self.tracker.tracks_reported
        started = time.perf_counter()
        try:
            for result in self.stream(source, fps):
                if out_video is not None:
                    if writer is None:
                        video = video_writer(out_video, self._video_fps(fps), self.config.pipeline)
                        if self.config.pipeline.threaded:
                            settings = self.config.pipeline
                            writer = _EncoderThread(
                                video, settings.queue_size, settings.codec_thread_nice, self.codec_cpus
                            )
                        else:
                            writer = _InlineEncoder(video)
                    start = time.perf_counter()
                    image = renderer.annotate(result.frame.image, self._visible(result.tracks), self._paths())
                    self.stage_s["render"] = self.stage_s.get("render", 0.0) + time.perf_counter() - start
                    writer.write(image)
                if track_writer is not None:
                    track_writer.write(result.frame.index, result.frame.time_s, result.tracks)
                summary.frames += 1
                if on_frame is not None:
                    on_frame(result)
                self._check_stop()
        except BaseException as exc:
            summary.interrupted = True
            summary.error = exc
            if summary.frames == 0:  # nothing worth keeping: leave no empty files behind
                for output in (writer, track_writer):
                    if output is not None:
                        output.abort()
                writer = track_writer = None
            self._finish(writer, track_writer, summary, complete=False)
            self._summarise(summary, reported_before, started, writer)
            raise
        self._finish(writer, track_writer, summary, complete=True)
        self._summarise(summary, reported_before, started, writer)
        return summary

    def _summarise(self, summary: RunSummary, reported_before: int, started: float, writer) -> None:
        summary.tracks = self.tracker.tracks_reported - reported_before
        summary.invalid_detections = self.tracker.invalid_detections
        summary.wall_s = time.perf_counter() - started
        summary.stage_s = dict(self.stage_s)
        if writer is not None:
            summary.stage_s["encode"] = writer.seconds
        if self.last_source is not None:
            stats = self.last_source.stats
            summary.corrupt_frames_skipped = stats.corrupt_skipped
            summary.dropped_frames = stats.dropped
            summary.reconnects = stats.reconnects
            summary.gaps_s = list(stats.gaps_s)

    @staticmethod
    def _finish(writer, track_writer, summary: RunSummary, complete: bool) -> None:
        """Finalise both outputs, the track file even when the video fails; the first error of a
        complete run is raised (an early end is already being raised)."""
        errors = []
        for output in (writer, track_writer):
            if output is None:
                continue
            try:
                output.close(complete=complete)
            except Exception as exc:  # noqa: BLE001 - reported below, after the other output
                errors.append(exc)
            if output.final_path is not None:
                summary.outputs.append(output.final_path)
        if errors and complete:
            raise errors[0]

    def _video_fps(self, fps: float | None) -> float:
        if fps:
            return fps
        if self.last_source is not None and np.isfinite(self.last_source.fps) and self.last_source.fps > 0:
            return self.last_source.fps
        return self.config.tracker.frame_rate

    def _visible(self, tracks: Tracks):
        """Reported tracks as objects, with their recent history for trails."""
        reported = set(tracks.id.tolist())
        live = {t.id: t for t in self.tracker.live_tracks() if t.id in reported}
        out = []
        for track in tracks:
            if track.id in live:
                track.history = live[track.id].history
            out.append(track)
        return out

    def _paths(self) -> dict[int, np.ndarray] | None:
        r = self.config.render
        if not r.predicted_paths:
            return None
        return self.tracker.predicted_paths(r.future_s, 10)


class _InlineEncoder:
    """The encoder called in the caller's thread (``pipeline.threaded: false``)."""

    def __init__(self, writer: VideoWriter) -> None:
        self.writer = writer
        self.seconds = 0.0

    def write(self, image: np.ndarray) -> None:
        start = time.perf_counter()
        try:
            self.writer.write(image)
        except BaseException as exc:
            with contextlib.suppress(AttributeError, TypeError):
                exc.stage = "encode"  # type: ignore[attr-defined]
            raise
        finally:
            self.seconds += time.perf_counter() - start

    def close(self, complete: bool = True) -> Path | None:
        return self.writer.close(complete=complete)

    def abort(self) -> None:
        self.writer.abort()

    @property
    def final_path(self) -> Path | None:
        return self.writer.final_path


def detector_batch_size(detector: Detector, settings: PipelineConfig) -> int:
    """``settings.batch_size`` where the detector runs a batch as one call (on a GPU);
    otherwise 1, so that each frame's result moves on as soon as it is ready."""
    return settings.batch_size if getattr(detector, "runs_batches", True) else 1


def video_writer(
    path: str | Path, fps: float, settings: PipelineConfig, threads: int | None = None
) -> VideoWriter:
    """The annotated video's writer, with the encoder settings of ``settings``."""
    threads = cpu_threads(settings.encoder_threads) if threads is None else threads
    tune = "" if settings.encoder_tune == "none" else settings.encoder_tune
    return VideoWriter(path, fps, threads, settings.encoder_preset, settings.encoder_crf, tune)


class _EncoderThread:
    """Encodes frames in its own thread; ``close`` flushes and finalises the file."""

    def __init__(
        self, writer: VideoWriter, queue_size: int, nice: int = 0, cpus: frozenset[int] | None = None
    ) -> None:
        self.writer = writer
        self.nice, self.cpus = nice, cpus
        self.seconds = 0.0
        self.stop = threading.Event()
        self.q: queue.Queue = queue.Queue(maxsize=queue_size)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="encode", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        lower_thread_priority(self.nice)
        keep_thread_on(self.cpus)  # before the first write opens x264, whose threads inherit it
        while True:
            image = self.q.get()
            if image is _END:
                return
            if self.error is not None:
                continue
            start = time.perf_counter()
            try:
                self.writer.write(image)
            except BaseException as exc:  # noqa: BLE001 - raised in the caller on the next write
                with contextlib.suppress(AttributeError, TypeError):
                    exc.stage = "encode"  # type: ignore[attr-defined]
                self.error = exc
            self.seconds += time.perf_counter() - start

    def write(self, image: np.ndarray) -> None:
        if self.error is not None:
            raise self.error
        self.q.put(image)

    def close(self, complete: bool = True) -> Path | None:
        """Flush the queue, then finalise the file (partial when ``complete`` is False or the
        encoder failed); an encoder error is raised after the file is finalised."""
        self.q.put(_END)
        self.thread.join()
        path = self.writer.close(complete=complete and self.error is None)
        if self.error is not None:
            raise self.error
        return path

    @property
    def final_path(self) -> Path | None:
        return self.writer.final_path

    def abort(self) -> None:
        self.q.put(_END)
        self.thread.join()
        self.writer.abort()
