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
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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
    frames: int = 0
    corrupt_skipped: int = 0


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


def open_source(spec: str | int | Path, fps: float | None = None, default_fps: float | None = None) -> Source:
    """Open ``spec``: a camera index (``0``), a URL, an image folder or glob, or a video file.

    ``fps`` overrides the source's own rate; ``default_fps`` is used only by sources that have
    no clock of their own (image folders).
    """
    folder_fps = fps or default_fps
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        return _open_capture(int(spec), live=True)
    text = str(spec)
    if "://" in text:
        return _open_capture(text, live=True)
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
        raise ValueError(f"{name}: image folders have no frame rate; give one (--fps)")
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
        container = av.open(str(path))
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


def _decode(container, stream, fps: float, stats: SourceStats) -> Iterator[Frame]:
    """Decode packet by packet so that one corrupt packet is skipped, not fatal."""
    import av

    index = 0
    last_time = None
    try:
        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except av.error.FFmpegError:
                stats.corrupt_skipped += 1
                continue
            for frame in decoded:
                time_s = _frame_time(frame, index, fps, last_time)
                last_time = time_s
                yield Frame(index, time_s, frame.to_ndarray(format="bgr24"))
                index += 1
    finally:
        container.close()


def _frame_time(frame, index: int, fps: float, last_time: float | None) -> float:
    t = frame.time
    if t is not None and math.isfinite(t) and (last_time is None or t > last_time):
        return float(t)
    if math.isfinite(fps) and fps > 0:
        return index / fps if last_time is None else last_time + 1.0 / fps
    raise ValueError("video has neither timestamps nor a frame rate; give one (--fps)")


def _open_capture(spec: int | str, live: bool) -> Source:
    import cv2

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
        what = f"camera {spec}" if isinstance(spec, int) else spec
        raise ValueError(f"cannot open {what}")
    rate = capture.get(cv2.CAP_PROP_FPS)
    fps = float(rate) if rate and math.isfinite(rate) and rate > 0 else math.nan
    stats = SourceStats()

    def frames() -> Iterator[Frame]:
        start = time.monotonic()
        index = 0
        try:
            while True:
                ok, image = capture.read()
                if not ok:
                    return
                stamp_ms = capture.get(cv2.CAP_PROP_POS_MSEC)
                time_s = stamp_ms / 1000.0 if stamp_ms and stamp_ms > 0 else time.monotonic() - start
                yield Frame(index, time_s, image)
                index += 1
        finally:
            capture.release()

    return Source(str(spec), fps, live, frames(), stats)
