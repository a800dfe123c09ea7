"""Frame sources: video files, image folders and globs, camera indices, RTSP/HTTP URLs.

Every frame carries its index and timestamp in seconds. Files: every frame, timestamps from the
stream (presentation times), frame rate from the stream. Image folders have no clock: frames are
spaced at the frame rate the caller gives. Live sources (cameras, URLs): timestamps from the
stream where it has them, else the wall clock.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import SourceConfig

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


@dataclass(frozen=True)
class Frame:
    """One decoded frame: BGR uint8 image, 0-based index, timestamp in seconds."""

    index: int
    time_s: float
    image: np.ndarray


@dataclass
class SourceStats:
    """Counters of a source: frames delivered, corrupt frames skipped, and for live sources
    frames dropped by the ``latest`` policy, reconnects and the outages (seconds, last 100)."""

    frames: int = 0
    corrupt_skipped: int = 0
    dropped: int = 0
    reconnects: int = 0
    gaps_s: list[float] = field(default_factory=list)


@dataclass
class Source:
    """An iterable of ``Frame``. ``fps`` is the stream's nominal rate (NaN when unknown)."""

    name: str
    fps: float
    live: bool
    _frames: Iterator[Frame] = field(repr=False)
    stats: SourceStats = field(default_factory=SourceStats)
    num_frames: int | None = None

    def __iter__(self) -> Iterator[Frame]:
        for frame in self._frames:
            self.stats.frames += 1
            yield frame


def open_source(
    spec: str | int | Path,
    fps: float | None = None,
    default_fps: float | None = None,
    live: SourceConfig | None = None,
) -> Source:
    """Open ``spec``: a camera index (``0``), a URL, an image folder or glob, or a video file.

    ``fps`` overrides the source's own rate; ``default_fps`` is used only by sources that have
    no clock of their own (image folders); ``live`` (the ``source`` config section) sets the
    policy and reconnection of cameras and URLs.
    """
    folder_fps = fps or default_fps
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        return _open_capture(int(spec), live=True, options=live)
    text = str(spec)
    if "://" in text:
        return _open_capture(text, live=True, options=live)
    if any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(text) if Path(p).suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"no images match {text}")
        return _image_source(text, files, folder_fps)
    path = Path(text)
    if not path.exists():
        raise FileNotFoundError(f"input not found: {path}")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"{path} is a folder with no images in it")
        return _image_source(str(path), files, folder_fps)
    return _open_video_file(path, fps)


def _image_source(name: str, files: list[Path], fps: float | None) -> Source:
    if fps is None or not fps > 0:
        raise ValueError(f"{name}: images have no frame rate and none is assumed; give one (--fps, or fps=)")
    stats = SourceStats()

    def frames() -> Iterator[Frame]:
        import cv2

        for i, path in enumerate(files):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                stats.corrupt_skipped += 1
                log.warning("skipping unreadable image %s", path)
                continue
            yield Frame(i, i / fps, image)

    return Source(name, float(fps), False, frames(), stats, len(files))


def _open_video_file(path: Path, fps: float | None) -> Source:
    import av

    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes)")
    try:
        container = _open_container(path)
    except av.error.FFmpegError as exc:
        raise ValueError(f"{path} is not a readable video ({exc.strerror or type(exc).__name__})") from None
    if not container.streams.video:
        container.close()
        raise ValueError(f"{path} has no video stream")
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    stream_fps = float(rate) if rate else math.nan
    if fps is None and not (math.isfinite(stream_fps) and stream_fps > 0):
        log.warning("%s: the stream gives no frame rate; timestamps come from presentation times", path)
    nominal = fps if fps is not None else stream_fps
    stats = SourceStats()
    return Source(
        str(path), nominal, False, _decode(container, stream, nominal, stats), stats, stream.frames or None
    )


# FFmpeg's stream probe decodes the first frames to learn what the container's header already
# says for MP4, MOV, MKV, WebM and AVI (about 10 ms of a 720p H.264 file, before the first frame
# can reach the detector). Open with a minimal probe first, and probe fully only when the
# header leaves the frame size or rate unknown (MPEG-TS, raw streams).
_QUICK_PROBE = {"probesize": "32", "analyzeduration": "0"}


def _open_container(path: Path):
    import av

    container = av.open(str(path), options=_QUICK_PROBE)
    if _header_describes_video(container):
        return container
    container.close()
    return av.open(str(path))


def _header_describes_video(container) -> bool:
    if not container.streams.video:
        return False
    stream = container.streams.video[0]
    codec = stream.codec_context
    return bool(codec.width and codec.height and stream.average_rate)


class _DecoderErrors(logging.Handler):
    """Counts the errors FFmpeg logs while decoding. A damaged H.264 slice is often concealed
    by the decoder (a frame comes out, with garbage in it) and only a log line tells; frames
    decoded from a packet that logged an error are treated as corrupt. The count is
    process-wide, so with several files decoding at once a frame may be blamed wrongly."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


_decoder_errors: _DecoderErrors | None = None


def _watch_decoder_errors() -> _DecoderErrors:
    global _decoder_errors
    if _decoder_errors is None:
        import av.logging

        _decoder_errors = _DecoderErrors()
        libav = logging.getLogger("libav")
        libav.addHandler(_decoder_errors)
        libav.propagate = False  # counted here, not printed: we report a summary instead
        if av.logging.get_level() is None or av.logging.get_level() > av.logging.ERROR:
            av.logging.set_level(av.logging.ERROR)
    return _decoder_errors


def _decode(container, stream, fps: float, stats: SourceStats) -> Iterator[Frame]:
    """Decode packet by packet so that one corrupt packet is skipped, not fatal; frames the
    decoder reported damaged (see ``_DecoderErrors``) are skipped and counted too."""
    import av

    errors = _watch_decoder_errors()
    index = 0
    last_time = None
    try:
        for packet in container.demux(stream):
            before = errors.count
            try:
                decoded = packet.decode()
            except av.error.FFmpegError:
                stats.corrupt_skipped += 1
                continue
            damaged = errors.count > before
            for frame in decoded:
                time_s = _frame_time(frame, index, fps, last_time)
                last_time = time_s
                index += 1
                if damaged or frame.is_corrupt:
                    stats.corrupt_skipped += 1
                    continue
                yield Frame(index - 1, time_s, frame.to_ndarray(format="bgr24"))
    finally:
        container.close()


def _frame_time(frame, index: int, fps: float, last_time: float | None) -> float:
    t = frame.time
    if t is not None and math.isfinite(t) and (last_time is None or t > last_time):
        return float(t)
    if math.isfinite(fps) and fps > 0:
        return index / fps if last_time is None else last_time + 1.0 / fps
    raise ValueError("video has neither timestamps nor a frame rate; give one (--fps)")


def _open_capture(spec: int | str, live: bool, options: SourceConfig | None = None) -> Source:
    options = options or SourceConfig()
    capture = _capture(spec)
    if capture is None:
        what = f"camera {spec}" if isinstance(spec, int) else spec
        raise ValueError(f"cannot open {what}")
    rate = capture.get(_cv2().CAP_PROP_FPS)
    fps = float(rate) if rate and math.isfinite(rate) and rate > 0 else math.nan
    stats = SourceStats()
    reader = _LiveReader(spec, capture, options, stats)
    frames = reader.latest() if options.live_policy == "latest" else reader.every()
    return Source(str(spec), fps, live, frames, stats)


def _cv2():
    import cv2

    return cv2


def _capture(spec: int | str):
    """An opened ``cv2.VideoCapture``, or None."""
    cv2 = _cv2()
    # OpenCV's FFmpeg backend logs connection failures itself; read once, at its first use.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # we report failure ourselves
    try:
        capture = cv2.VideoCapture(spec)
    finally:
        cv2.utils.logging.setLogLevel(previous)
    if not capture.isOpened():
        capture.release()
        return None
    return capture


class _LiveReader:
    """Reads a live capture, reconnecting after drops; timestamps continue across reconnects.

    Timestamps: the stream's own (``CAP_PROP_POS_MSEC``) where it has them, else the wall
    clock; after a reconnect the stream's clock restarts, so an offset keeps time monotonic and
    makes the outage show as a real gap (lifetimes are seconds, so short gaps keep ids).
    """

    def __init__(self, spec, capture, options: SourceConfig, stats: SourceStats) -> None:
        self.spec, self.capture, self.options, self.stats = spec, capture, options, stats
        self.start = time.monotonic()
        self.index = 0
        self.offset = 0.0
        self.last_time = -math.inf
        self.lost_at: float | None = None  # wall time the stream dropped
        self.stopped = threading.Event()  # the consumer has gone: stop reconnecting

    def _read(self) -> Frame | None:
        """The next frame, reconnecting as needed; None when the stream is gone for good."""
        while True:
            ok, image = self.capture.read() if self.capture is not None else (False, None)
            if ok and image is not None:
                return self._frame(image)
            if not self._reconnect():
                return None

    def _frame(self, image: np.ndarray) -> Frame:
        stamp_ms = self.capture.get(_cv2().CAP_PROP_POS_MSEC)
        wall = time.monotonic() - self.start
        stream_s = stamp_ms / 1000.0 if stamp_ms and stamp_ms > 0 else None
        if self.lost_at is not None:  # first frame after a reconnect
            gap = time.monotonic() - self.lost_at
            self.stats.gaps_s.append(round(gap, 3))
            del self.stats.gaps_s[:-100]  # bounded: the last 100 outages
            self.lost_at = None
            base = self.last_time + gap if math.isfinite(self.last_time) else wall
            self.offset = base - (stream_s if stream_s is not None else wall)
        time_s = (stream_s if stream_s is not None else wall) + self.offset
        if time_s <= self.last_time:  # a stream clock that stalls or jumps back
            time_s = self.last_time + 1e-3
        self.last_time = time_s
        frame = Frame(self.index, time_s, image)
        self.index += 1
        return frame

    def _reconnect(self) -> bool:
        if self.capture is not None:
            self.capture.release()
            self.capture = None
        if self.lost_at is None:
            self.lost_at = time.monotonic()
            log.warning("%s: stream lost; reconnecting", self.spec)
        delay = self.options.reconnect_initial_s
        while time.monotonic() - self.lost_at < self.options.reconnect_budget_s:
            left = self.options.reconnect_budget_s - (time.monotonic() - self.lost_at)
            if self.stopped.wait(min(delay, max(0.0, left))):
                return False
            self.capture = _capture(self.spec)
            if self.capture is not None:
                self.stats.reconnects += 1
                log.warning("%s: reconnected after %.1f s", self.spec, time.monotonic() - self.lost_at)
                return True
            delay = min(delay * 2, self.options.reconnect_max_s)
        log.warning("%s: no stream for %.0f s; giving up", self.spec, self.options.reconnect_budget_s)
        return False

    def close(self) -> None:
        if self.capture is not None:
            self.capture.release()
            self.capture = None

    def every(self) -> Iterator[Frame]:
        try:
            while (frame := self._read()) is not None:
                yield frame
        finally:
            self.stopped.set()
            self.close()

    def latest(self) -> Iterator[Frame]:
        """A reader thread keeps only the newest frame; the consumer takes it when ready."""
        slot: list[Frame | None] = [None]
        done = threading.Event()
        ready = threading.Condition()

        def grab() -> None:
            try:
                while not done.is_set() and not self.stopped.is_set():
                    frame = self._read()
                    with ready:
                        if frame is None:
                            done.set()
                        elif slot[0] is not None:
                            self.stats.dropped += 1
                        slot[0] = frame if frame is not None else slot[0]
                        ready.notify()
            finally:
                self.close()  # this thread owns the capture
                done.set()
                with ready:
                    ready.notify()

        thread = threading.Thread(target=grab, name="live-reader", daemon=True)
        thread.start()
        try:
            while True:
                with ready:
                    while slot[0] is None and not done.is_set():
                        ready.wait(0.5)
                    frame, slot[0] = slot[0], None
                if frame is None:
                    return
                yield frame
        finally:
            self.stopped.set()
            done.set()
            thread.join(timeout=5)
