"""The outputs of one stream: the annotated video, drawn with the stream's trails and predicted
paths, and the track file. ``Pipeline.run`` and multi-stream runs write through it, so both
draw and finalise the same way.

The video is encoded in a thread of its own (``EncoderThread``) or in the caller's
(``InlineEncoder``): one core per video, for runs that process several side by side.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import threads
from .config import Config
from .output_paths import track_format_for
from .render import Renderer
from .sink import TrackWriter, VideoWriter, video_writer
from .stages import Result, StageTimes
from .threads import END, mark_stage
from .tracks import Tracker


class InlineEncoder:
    """The encoder called in the caller's thread."""

    def __init__(self, writer: VideoWriter) -> None:
        self.writer = writer
        self.seconds = 0.0

    def write(self, image: np.ndarray) -> None:
        start = time.perf_counter()
        try:
            self.writer.write(image)
        except BaseException as exc:
            mark_stage(exc, "encode")
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


class EncoderThread:
    """Encodes frames in its own thread; ``close`` flushes and finalises the file."""

    def __init__(
        self, writer: VideoWriter, queue_size: int, nice: int = 0, cpus: frozenset[int] | None = None
    ) -> None:
        self.writer = writer
        self.nice, self.cpus = nice, cpus
        self.seconds = 0.0
        self.q: queue.Queue = queue.Queue(maxsize=queue_size)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="encode", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        # before the first write opens x264, whose threads inherit both
        threads.codec_thread(self.nice, self.cpus)()
        while True:
            image = self.q.get()
            if image is END:
                return
            if self.error is not None:
                continue
            start = time.perf_counter()
            try:
                self.writer.write(image)
            except BaseException as exc:  # noqa: BLE001 - raised in the caller on the next write
                mark_stage(exc, "encode")
                self.error = exc
            self.seconds += time.perf_counter() - start

    def write(self, image: np.ndarray) -> None:
        if self.error is not None:
            raise self.error
        self.q.put(image)

    def close(self, complete: bool = True) -> Path | None:
        """Flush the queue, then finalise the file (partial when ``complete`` is False or the
        encoder failed); an encoder error is raised after the file is finalised."""
        self.q.put(END)
        self.thread.join()
        path = self.writer.close(complete=complete and self.error is None)
        if self.error is not None:
            raise self.error
        return path

    @property
    def final_path(self) -> Path | None:
        return self.writer.final_path

    def abort(self) -> None:
        self.q.put(END)
        self.thread.join()
        self.writer.abort()


class StreamOutputs:
    """Annotated video and/or track file of one stream.

    The video is opened at the first frame, at ``fps()`` frames a second (by then the source
    knows its rate); ``threaded`` encodes in a thread of its own (niceness ``nice``, on
    ``cpus``), else in the caller's, with ``encoder_threads`` x264 threads (None: the config's).
    """

    def __init__(
        self,
        config: Config,
        class_names: tuple[str, ...],
        times: StageTimes,
        video_path: str | Path | None,
        tracks_path: str | Path | None,
        tracks_format: str | None = None,
        fps: Callable[[], float] = lambda: 30.0,
        threaded: bool = True,
        cpus: frozenset[int] | None = None,
        encoder_threads: int | None = None,
    ) -> None:
        self.config, self.times, self.fps = config, times, fps
        self.video_path = video_path
        self.threaded, self.cpus, self.encoder_threads = threaded, cpus, encoder_threads
        self.renderer = Renderer(config.render, class_names)
        self.encoder: EncoderThread | InlineEncoder | None = None
        self.track_writer: TrackWriter | None = None
        if tracks_path is not None:
            path = Path(tracks_path)
            self.track_writer = TrackWriter(path, track_format_for(path, tracks_format), class_names)

    def _open_video(self) -> EncoderThread | InlineEncoder:
        video = video_writer(self.video_path, self.fps(), self.config.encoder, self.encoder_threads)
        if self.threaded:
            run = self.config.run
            return EncoderThread(video, run.queue_size, run.codec_thread_nice, self.cpus)
        return InlineEncoder(video)

    def write(self, result: Result, tracker: Tracker) -> None:
        """Draw and encode the frame (with ``tracker``'s trails and paths) and write its tracks."""
        if self.video_path is not None:
            if self.encoder is None:
                self.encoder = self._open_video()
            start = time.perf_counter()
            image = self.draw(result, tracker)
            self.times.add("render", time.perf_counter() - start)
            self.encoder.write(image)
        if self.track_writer is not None:
            self.track_writer.write(result.frame.index, result.frame.time_s, result.tracks)

    def draw(self, result: Result, tracker: Tracker) -> np.ndarray:
        r = self.config.render
        trails = tracker.trails(result.tracks) if r.trails else None
        paths = tracker.predicted_paths(r.future_s, 10) if r.predicted_paths else None
        return self.renderer.annotate(result.frame.image, result.tracks, trails, paths)

    @property
    def video_final(self) -> Path | None:
        """Where the video went once closed (None: no video, or not yet closed)."""
        return self.encoder.final_path if self.encoder is not None else None

    @property
    def tracks_final(self) -> Path | None:
        return self.track_writer.final_path if self.track_writer is not None else None

    @property
    def encode_s(self) -> float | None:
        return self.encoder.seconds if self.encoder is not None else None

    def abort(self) -> None:
        """Remove what was written (a run that ended before its first frame)."""
        for output in (self.encoder, self.track_writer):
            if output is not None:
                output.abort()
        self.encoder = self.track_writer = None

    def close(self, complete: bool, placed: list[Path]) -> None:
        """Finalise both outputs, the track file even when the video fails, adding where they
        went to ``placed``. The first error of a complete run is raised (an early end is
        already being raised)."""
        errors = []
        for output in (self.encoder, self.track_writer):
            if output is None:
                continue
            try:
                output.close(complete=complete)
            except Exception as exc:  # noqa: BLE001 - reported below, after the other output
                errors.append(exc)
            if output.final_path is not None:
                placed.append(output.final_path)
        if errors and complete:
            raise errors[0]
