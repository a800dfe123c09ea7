"""Many streams, one detector (``track multi``, ``Pipeline.streams``).

Each source has its own reader thread (decoding and camera-motion estimation), its own tracker
and its own outputs. One detector thread batches frames *across* streams: each round it takes
the frames that are ready, at most one per stream, and runs one forward pass over them. It never
waits for a particular stream, so a slow stream only contributes fewer frames and a dead one
(its source failed or ended) drops out while the others go on; its error is reported.

The stages and the per-frame step are the single-stream pipeline's (``tracker.stages``), and so
are the outputs (``tracker.outputs``): trails, predicted paths and finalising come from there.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import Config
from .detect import Detector
from .output_paths import stream_stem
from .outputs import StreamOutputs
from .source import Source, open_source
from .stages import FrameItem, Result, StageTimes, TrackStep, decode_stage, detect_stage, frame_step_s
from .threads import END, StageThread, get_or_raise
from .tracks import Tracker

StreamResult = Result  # a multi-stream result is a Result with its stream index


@dataclass
class StreamState:
    """One stream of a multi-stream run: its tracker, its queue of decoded frames, its
    per-frame step and stage timings."""

    index: int
    name: str
    tracker: Tracker
    frames: queue.Queue
    step: TrackStep
    times: StageTimes
    source: Source | None = None
    error: BaseException | None = None
    ended: bool = False
    processed: int = 0

    @property
    def step_s(self) -> float:
        return self.step.step_s


@dataclass
class MultiStats:
    """The shared detector's batches, and the error of every stream that failed."""

    times: StageTimes = field(default_factory=StageTimes)
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def batches(self) -> int:
        return self.times.batches

    @property
    def frames(self) -> int:
        return self.times.frames_detected

    @property
    def mean_batch(self) -> float:
        return self.frames / self.batches if self.batches else 0.0


class MultiFeed:
    """The detector's batches across streams: ready frames, one per live stream per round, at
    most ``limit`` in all (the streams are visited round-robin, starting after the last one
    served). It never waits for one stream; when nothing is ready anywhere it waits a moment."""

    def __init__(self, streams: list[StreamState], stop: threading.Event) -> None:
        self.streams, self.stop = streams, stop
        self.rounds = 0

    def take(self, limit: int) -> list[FrameItem]:
        while not self.stop.is_set():
            batch = self._gather(limit)
            if batch:
                self.rounds += 1
                return batch
            if all(s.ended for s in self.streams):
                break
            time.sleep(0.002)
        return []

    def _gather(self, limit: int) -> list[FrameItem]:
        batch: list[FrameItem] = []
        live = [s for s in self.streams if not s.ended]
        start = self.rounds % max(len(live), 1)
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
                if item is END:
                    stream.ended = True
                    continue
                batch.append(item)
                took = True
        return batch


class MultiStream:
    """Runs several sources through one shared detector; iterate it for ``Result``s (with their
    stream index) in the order frames are tracked (frames of one stream always in order)."""

    def __init__(
        self, config: Config, detector: Detector, sources: Sequence, fps: float | None = None
    ) -> None:
        self.config = config
        self.detector = detector
        self.class_names = tuple(detector.class_names)
        self.stats = MultiStats()
        self.fps = fps
        self.streams = [self._state(i, s) for i, s in enumerate(sources)]
        self._sources = list(sources)
        self._stop = threading.Event()

    def _state(self, index: int, spec) -> StreamState:
        tracker = Tracker(self.config.tracker, self.class_names)
        times = StageTimes()
        step = TrackStep(tracker, 1.0 / self.config.tracker.frame_rate, times)
        frames: queue.Queue = queue.Queue(maxsize=self.config.run.queue_size)
        return StreamState(index, str(spec), tracker, frames, step, times)

    def __iter__(self) -> Iterator[Result]:
        out: queue.Queue = queue.Queue(maxsize=self.config.run.queue_size * 2)
        feed = MultiFeed(self.streams, self._stop)
        limit = max(self.config.run.batch_size, 1)
        threads = [
            StageThread(f"read-{s.index}", self._frames(s, spec), s.frames, self._stop)
            for s, spec in zip(self.streams, self._sources, strict=True)
        ]
        detected = detect_stage(self.detector, feed, limit, self.stats.times)
        threads.append(StageThread("detect", detected, out, self._stop))
        for thread in threads:
            thread.start()
        try:
            while (item := get_or_raise(out)) is not END:
                stream = self.streams[item.stream]
                result = stream.step(item)
                stream.processed += 1
                yield result
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(timeout=5)

    def _frames(self, stream: StreamState, spec) -> Iterator[FrameItem]:
        """One source's decoded frames (blocking only its own queue when that is full). A
        source that fails ends its own stream, with the error recorded; the others go on."""
        try:
            source = self._open(stream, spec)
            yield from decode_stage(source, self.config.camera_motion.enabled, stream.times, stream.index)
        except Exception as exc:  # noqa: BLE001 - this stream ends; the others go on
            stream.error = exc
            self.stats.errors[stream.index] = f"{type(exc).__name__}: {exc}"

    def _open(self, stream: StreamState, spec) -> Source:
        if isinstance(spec, (str, int, Path)):
            source = open_source(spec, self.fps, live=self.config.source)  # image folders: fps
        elif isinstance(spec, Source):
            source = spec
        else:  # any iterable of Frame (a generator from the caller's own camera code)
            source = Source(f"stream-{stream.index}", self.fps or np.nan, True, iter(spec))
        stream.source = source
        stream.step.step_s = frame_step_s(source.fps, self.config.tracker.frame_rate)
        return source


@dataclass
class StreamSummary:
    name: str
    frames: int = 0
    tracks: int = 0
    video_out: str = ""
    tracks_out: str = ""
    error: str = ""


def run_multi(
    config: Config,
    detector: Detector,
    sources: Sequence,
    out_dir,
    video: bool = True,
    fps: float | None = None,
) -> tuple[list[StreamSummary], MultiStats, float]:
    """Track ``sources`` through one detector; per stream an annotated video (trails and
    predicted paths as in a single run) and a JSON Lines track file in ``out_dir``. Returns
    per-stream summaries, detector batching stats, wall time."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    multi = MultiStream(config, detector, sources, fps)
    paths = output_paths(out_dir, sources, video)
    summaries = [StreamSummary(str(s)) for s in sources]
    outputs = [_outputs(config, multi.streams[i], *paths[i]) for i in range(len(sources))]
    started = time.perf_counter()
    complete = False
    try:
        for result in multi:
            i = result.stream
            outputs[i].write(result, multi.streams[i].tracker)
            summaries[i].frames += 1
        complete = True
    finally:
        for i, summary in enumerate(summaries):
            outputs[i].close(complete, [])
            summary.tracks = multi.streams[i].tracker.tracks_reported
            summary.video_out = str(outputs[i].video_final or "")
            summary.tracks_out = str(outputs[i].tracks_final or "")
            summary.error = multi.stats.errors.get(i, "")
    return summaries, multi.stats, time.perf_counter() - started


def output_paths(out_dir, sources: Sequence, video: bool = True) -> list[tuple[Path | None, Path]]:
    """Per source, where its annotated video (None without one) and its track file go."""
    stems = [stream_stem(s, i) for i, s in enumerate(sources)]
    return [(Path(out_dir) / f"{s}.mp4" if video else None, Path(out_dir) / f"{s}.jsonl") for s in stems]


def _outputs(config: Config, stream: StreamState, video_out: Path | None, tracks_out: Path) -> StreamOutputs:
    """A stream's outputs: encoded in the consuming thread with one x264 thread (the streams
    share the machine), at the stream's own frame rate."""
    return StreamOutputs(
        config,
        tuple(stream.tracker.class_names),
        stream.times,
        video_out,
        tracks_out,
        "jsonl",
        fps=lambda: 1.0 / stream.step_s if stream.step_s > 0 else 30.0,
        threaded=False,
        encoder_threads=1,
    )
