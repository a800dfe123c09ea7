"""Outputs: annotated H.264 video and track files.

Every writer writes under a temporary name next to the target and renames it into place on
``close()``; ``abort()`` removes the temporary file, so a failed run leaves nothing behind and
never clobbers an existing file. A run stopped mid-way (Ctrl-C) calls ``close()``: the video is
finalised and playable up to the last frame written.
"""

from __future__ import annotations

import json
import logging
import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from .formats import format_kitti_tracks, format_mot_tracks
from .structures import Tracks

log = logging.getLogger(__name__)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.stem}.part{path.suffix}")


def frame_rate_fraction(fps: float) -> Fraction:
    """A frame rate as a fraction, keeping NTSC rates exact (29.97 -> 30000/1001)."""
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"frame rate must be positive, got {fps}")
    for base in (24, 30, 60, 120):
        if abs(fps - base * 1000 / 1001) < 0.005:
            return Fraction(base * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


class VideoWriter:
    """MP4 writer: H.264 (libx264, yuv420p, faststart) through PyAV, which plays in browsers.

    Falls back to OpenCV's mp4v, with a warning, only where no H.264 encoder exists.
    Frames are BGR uint8; odd sizes are padded to even (H.264 with 4:2:0 needs it).
    """

    def __init__(self, path: str | Path, fps: float, threads: int = 0) -> None:
        self.path = Path(path)
        self.threads = threads  # 0 = the encoder's own choice
        self.tmp = _temporary(self.path)
        self.rate = frame_rate_fraction(fps)
        self.frames_written = 0
        self._container = None
        self._stream = None
        self._cv_writer = None
        self.codec = "h264"

    def _open(self, width: int, height: int) -> None:
        import av

        try:
            self._container = av.open(
                str(self.tmp), mode="w", format="mp4", options={"movflags": "+faststart"}
            )
            stream = self._container.add_stream("libx264", rate=self.rate)
        except (av.error.FFmpegError, ValueError, av.codec.codec.UnknownCodecError) as exc:
            if self._container is not None:
                self._container.close()
                self._container = None
            log.warning("no H.264 encoder (%s); writing mp4v, which browsers may not play", exc)
            self._open_opencv(width, height)
            return
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        options = {"crf": "23", "preset": "veryfast"}
        if self.threads > 0:
            options["threads"] = str(self.threads)
        stream.options = options
        self._stream = stream

    def _open_opencv(self, width: int, height: int) -> None:
        import cv2

        self.codec = "mp4v"
        self._cv_writer = cv2.VideoWriter(
            str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(self.rate), (width, height)
        )

    def write(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        if h % 2 or w % 2:
            image = np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
            h, w = image.shape[:2]
        if self._stream is None and self._cv_writer is None:
            self._open(w, h)
        if self._stream is not None:
            if (w, h) != (self._stream.width, self._stream.height):
                raise ValueError(
                    f"frame size changed from {self._stream.width}x{self._stream.height} to {w}x{h}"
                )
            import av

            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        else:
            self._cv_writer.write(np.ascontiguousarray(image))
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and move the finished file into place."""
        if self._stream is not None:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
        elif self._cv_writer is not None:
            self._cv_writer.release()
        self._stream = self._container = self._cv_writer = None
        if self.tmp.exists():
            self.tmp.replace(self.path)

    def abort(self) -> None:
        """Drop what was written; the target path is left as it was."""
        try:
            if self._container is not None:
                self._container.close()
            if self._cv_writer is not None:
                self._cv_writer.release()
        finally:
            self._stream = self._container = self._cv_writer = None
            self.tmp.unlink(missing_ok=True)


TRACK_FORMATS = ("mot", "kitti", "jsonl")


def track_format_for(path: Path, explicit: str | None) -> str:
    if explicit:
        if explicit not in TRACK_FORMATS:
            raise ValueError(f"unknown track format {explicit!r}: expected one of {', '.join(TRACK_FORMATS)}")
        return explicit
    return "jsonl" if path.suffix.lower() == ".jsonl" else "mot"


class TrackWriter:
    """Track file writer: MOT (``.txt``), KITTI, or JSON Lines (one record per track per frame).

    Lines are flushed as they are written, so the file is complete up to the last frame even if
    the process is killed; it is renamed into place on ``close()``.
    """

    def __init__(self, path: str | Path, fmt: str, class_names: tuple[str, ...]) -> None:
        self.path = Path(path)
        self.fmt = fmt
        self.class_names = class_names
        self.tmp = _temporary(self.path)
        self._fh = self.tmp.open("w")

    def write(self, frame_index: int, time_s: float, tracks: Tracks) -> None:
        if self.fmt == "mot":
            lines = format_mot_tracks(frame_index, tracks)
        elif self.fmt == "kitti":
            lines = format_kitti_tracks(frame_index, tracks, self.class_names)
        else:
            lines = [json.dumps(self._record(frame_index, time_s, t)) + "\n" for t in tracks]
        self._fh.writelines(lines)
        self._fh.flush()

    def _record(self, frame_index: int, time_s: float, track) -> dict:
        name = (
            self.class_names[track.class_id]
            if 0 <= track.class_id < len(self.class_names)
            else str(track.class_id)
        )
        return {
            "frame": frame_index,
            "time_s": round(float(time_s), 6),
            "id": track.id,
            "class": name,
            "score": round(track.score, 4),
            "xyxy": [round(float(v), 2) for v in track.xyxy],
        }

    def close(self) -> None:
        self._fh.close()
        self.tmp.replace(self.path)

    def abort(self) -> None:
        self._fh.close()
        self.tmp.unlink(missing_ok=True)
