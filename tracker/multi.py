"""Many streams, one detector (``track multi``, ``Pipeline.streams``).

Each source has its own reader thread (decoding and camera-motion estimation), its own tracker
and its own outputs. One detector thread batches frames *across* streams: each round it takes
the frames that are ready, at most one per stream, and runs one forward pass over them. It never
waits for a particular stream, so a slow stream only contributes fewer frames and a dead one
(its source failed or ended) drops out while the others go on; its error is reported.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .camera import CameraMotion
from .config import Config
from .detect import Detector
from .pipeline import put_until_stopped, video_writer
from .source import Frame, LiveOptions, Source, open_source
from .structures import Detections
from .tracks import Tracker

_END = object()


@dataclass
class StreamState:
    """One stream of a multi-stream run."""

    index: int
    name: str
    tracker: Tracker
    frames: queue.Queue
    step_s: float
    source: Source | None = None
    error: BaseException | None = None
    ended: bool = False
    processed: int = 0


@dataclass
class StreamResult:
    """A frame of stream ``stream`` with its tracks (``Result`` plus the stream index)."""

    stream: int
    frame: Frame
    tracks: object


@dataclass
class MultiStats:
    batches: int = 0
    frames: int = 0
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def mean_batch(self) -> float:
        return self.frames / self.batches if self.batches else 0.0


class MultiStream:
    """Runs several sources through one shared detector; iterate it for ``StreamResult``s in
    the order frames are tracked (frames of one stream always in order)."""

    def __init__(
        self, config: Config, detector: Detector, sources: Sequence, fps: float | None = None
    ) -> None:
        self.config = config
        self.detector = detector
        self.class_names = tuple(detector.class_names)
        self.stats = MultiStats()
        self.fps = fps
        size = config.pipeline.queue_size
        self.streams = [
            StreamState(i, str(s), Tracker(config.tracker, self.class_names), queue.Queue(maxsize=size), 0.0)
            for i, s in enumerate(sources)
        ]
        self._sources = list(sources)
        self._stop = threading.Event()

    def __iter__(self) -> Iterator[StreamResult]:
        out: queue.Queue = queue.Queue(maxsize=self.config.pipeline.queue_size * 2)
        readers = [
            threading.Thread(target=self._read, args=(s, spec), name=f"read-{s.index}", daemon=True)
            for s, spec in zip(self.streams, self._sources, strict=True)
        ]
        detector = threading.Thread(target=self._detect, args=(out,), name="detect", daemon=True)
        for thread in [*readers, detector]:
            thread.start()
        try:
            while True:
                item = out.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                stream, frame, warp, dets = item
                time_s = frame.time_s if np.isfinite(frame.time_s) else frame.index * stream.step_s
                tracks = stream.tracker.update(dets, time_s=time_s, camera_motion=warp)
                stream.processed += 1
                yield StreamResult(stream.index, Frame(frame.index, time_s, frame.image), tracks)
        finally:
            self._stop.set()
            for thread in [*readers, detector]:
                thread.join(timeout=5)

    def _read(self, stream: StreamState, spec) -> None:
        """Decode one source into its queue (blocking only itself when its queue is full)."""
        try:
            if isinstance(spec, (str, int, Path)):
                live = LiveOptions.from_config(self.config.pipeline)
                source = open_source(spec, self.fps, default_fps=self.config.tracker.frame_rate, live=live)
            elif isinstance(spec, Source):
                source = spec
            else:  # any iterable of Frame (a generator from the caller's own camera code)
                source = Source(f"stream-{stream.index}", self.fps or np.nan, True, iter(spec))
            stream.source = source
            rate = source.fps
            nominal = rate if np.isfinite(rate) and rate > 0 else self.config.tracker.frame_rate
            stream.step_s = 1.0 / nominal
            camera = CameraMotion() if self.config.pipeline.camera_motion else None
            for frame in source:
                warp = camera.update(frame.image) if camera is not None else None
                if not put_until_stopped(stream.frames, (frame, warp), self._stop):
                    return
        except Exception as exc:  # noqa: BLE001 - this stream ends; the others go on
            stream.error = exc
            self.stats.errors[stream.index] = f"{type(exc).__name__}: {exc}"
        finally:
            put_until_stopped(stream.frames, _END, self._stop)  # never blocks once the consumer has gone

    def _gather(self) -> list[tuple[StreamState, Frame, np.ndarray | None]]:
        """Ready frames, one per live stream per round, at most ``batch_size`` in all (the
        streams are visited round-robin, starting after the last one served)."""
        limit = max(self.config.pipeline.batch_size, 1)
        batch: list = []
        live = [s for s in self.streams if not s.ended]
        start = self.stats.batches % max(len(live), 1)
        order = live[start:] + live[:start]
        took = True
        while took and len(batch) < limit:  # more rounds while there is room (few streams)
            took = False
            for stream in order:
                if len(batch) >= limit or stream.ended:
                    continue
                try:
                    item = stream.frames.get_nowait()
                except queue.Empty:
                    continue
                if item is _END:
                    stream.ended = True
                    continue
                batch.append((stream, *item))
                took = True
        return batch

    def _detect(self, out: queue.Queue) -> None:
        try:
            while not self._stop.is_set():
                batch = self._gather()
                if not batch:
                    if all(s.ended for s in self.streams):
                        break
                    time.sleep(0.002)  # nothing ready anywhere: wait a moment, never on one stream
                    continue
                results = self.detector.detect([frame for _, frame, _ in batch])
                self.stats.batches += 1
                self.stats.frames += len(batch)
                for (stream, frame, warp), dets in zip(batch, results, strict=True):
                    if not isinstance(dets, Detections):
                        raise TypeError(f"detector returned {type(dets).__name__}, expected Detections")
                    if not put_until_stopped(out, (stream, frame, warp, dets), self._stop):
                        return
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            put_until_stopped(out, exc, self._stop)
        finally:
            put_until_stopped(out, _END, self._stop)


@dataclass
class StreamSummary:
    name: str
    frames: int = 0
    tracks: int = 0
    video_out: str = ""
    tracks_out: str = ""
    error: str = ""


def stream_stem(spec, index: int) -> str:
    """Output name of a stream: the file's (see ``batch.output_stem``), else ``stream-<i>``."""
    from .batch import output_stem

    text = str(spec)
    if isinstance(spec, int) or text.isdigit() or "://" in text or not Path(text).exists():
        return f"stream-{index}"
    return output_stem(Path(text))


def run_multi(
    config: Config,
    detector: Detector,
    sources: Sequence,
    out_dir,
    video: bool = True,
    fps: float | None = None,
) -> tuple[list[StreamSummary], MultiStats, float]:
    """Track ``sources`` through one detector; per stream an annotated video and a JSON Lines
    track file in ``out_dir``. Returns per-stream summaries, detector batching stats, wall time."""
    from .render import Renderer
    from .sink import TrackWriter, VideoWriter

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    multi = MultiStream(config, detector, sources, fps)
    stems = [stream_stem(s, i) for i, s in enumerate(sources)]
    summaries = [StreamSummary(str(s)) for s in sources]
    renderer = Renderer(config.render, multi.class_names)
    tracks = [TrackWriter(out_dir / f"{stem}.jsonl", "jsonl", multi.class_names) for stem in stems]
    videos: list[VideoWriter | None] = [None] * len(sources)
    started = time.perf_counter()
    complete = False
    try:
        for result in multi:
            i = result.stream
            if video:
                if videos[i] is None:
                    rate = multi.streams[i].step_s
                    path, fps_out = out_dir / f"{stems[i]}.mp4", 1.0 / rate if rate > 0 else 30.0
                    videos[i] = video_writer(path, fps_out, config.pipeline, threads=1)
                videos[i].write(renderer.annotate(result.frame.image, list(result.tracks)))
            tracks[i].write(result.frame.index, result.frame.time_s, result.tracks)
            summaries[i].frames += 1
        complete = True
    finally:
        for i, summary in enumerate(summaries):
            for writer in (videos[i], tracks[i]):
                if writer is not None:
                    writer.close(complete=complete)
            summary.tracks = multi.streams[i].tracker.tracks_reported
            summary.video_out = str(videos[i].final_path) if videos[i] and videos[i].final_path else ""
            summary.tracks_out = str(tracks[i].final_path or "")
            summary.error = multi.stats.errors.get(i, "")
    return summaries, multi.stats, time.perf_counter() - started
