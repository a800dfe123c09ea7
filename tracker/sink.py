"""Outputs: annotated H.264 video and track files.

Every writer writes under a temporary name next to the target and renames it into place on
``close()``, so a reader never sees a half-written file under the real name. A run that ends
early (an error in a stage, a full disk, SIGINT, SIGTERM) calls ``close(complete=False)``: the
video is finalised and playable up to the last frame written, the track file is cut back to the
last whole frame, and both are moved to the target name, unless a file was already there when
the run started: that one is never clobbered, and the partial output goes to
``NAME.partial.EXT`` beside it. ``abort()`` removes the temporary file instead.

The video is fragmented MP4 (a fragment per keyframe, one a second): even a process killed
outright leaves a file that plays up to its last whole fragment.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from .config import EncoderConfig, cpu_threads
from .formats import format_kitti_tracks, format_mot_tracks
from .output_paths import VIDEO_SUFFIXES
from .structures import Tracks

log = logging.getLogger(__name__)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.stem}.part{path.suffix}")


def partial_path(path: Path) -> Path:
    """Where an incomplete output goes when ``path`` already held a file."""
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def _place(tmp: Path, path: Path, complete: bool, existed: bool) -> Path | None:
    """Move the finished temporary file into place; returns where it went."""
    if not tmp.exists():
        return None
    target = path if complete or not existed else partial_path(path)
    tmp.replace(target)
    return target


def frame_rate_fraction(fps: float) -> Fraction:
    """A frame rate as a fraction, keeping NTSC rates exact (29.97 -> 30000/1001)."""
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"frame rate must be positive, got {fps}")
    for base in (24, 30, 60, 120):
        if abs(fps - base * 1000 / 1001) < 0.005:
            return Fraction(base * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


# BT.601 limited-range chroma (OpenCV's own integer coefficients over 256), rows U and V,
# columns B, G, R and the offset.
_CHROMA = np.array([[112, -74, -38, 128 * 256], [-18, -94, 112, 128 * 256]], np.float32) / 256


def bgr_to_i420(image: np.ndarray) -> np.ndarray:
    """BGR uint8 (even height and width) -> I420 planes stacked as OpenCV lays them out
    ((h * 3 / 2, w): Y, then U, then V), each chroma sample the mean of its 2 x 2 pixels as
    swscale makes it (within 1 level). OpenCV's own BGR -> I420 takes one pixel of the four,
    which moves colour edges by a pixel (the built-in detector's boxes lost 0.03 IoU on such
    video); swscale's conversion costs about 3 ms a 720p frame, this one about 1.5."""
    import cv2

    h, w = image.shape[:2]
    i420 = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)
    half = cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    chroma = cv2.transform(half, _CHROMA)
    planes = i420[h:].reshape(2, h // 2, w // 2)
    planes[0] = chroma[..., 0]
    planes[1] = chroma[..., 1]
    return i420


class VideoWriter:
    """MP4 writer: H.264 (libx264, yuv420p, fragmented with the index first) through PyAV,
    which plays in browsers.

    Falls back to OpenCV's mp4v, with a warning, only where no H.264 encoder exists.
    Frames are BGR uint8; odd sizes are padded to even (H.264 with 4:2:0 needs it).
    ``preset``, ``crf`` and ``tune`` are x264's; the defaults suit the synthetic generator (small files,
    little loss); the pipeline passes its own (``EncoderConfig``).
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        threads: int = 0,
        preset: str = "veryfast",
        crf: int = 23,
        tune: str = "",
    ) -> None:
        self.path = Path(path)
        self.threads = threads  # 0 = the encoder's own choice
        self.preset, self.crf, self.tune = preset, crf, tune
        self.tmp = _temporary(self.path)
        self.rate = frame_rate_fraction(fps)
        self.existed = self.path.exists()
        self.final_path: Path | None = None
        self.frames_written = 0
        self._container = None
        self._stream = None
        self._cv_writer = None
        self.codec = "h264"

    def _open(self, width: int, height: int) -> None:
        import av

        try:
            # Fragmented MP4: playable up to the last fragment whatever happens to the process.
            movflags = "+frag_keyframe+empty_moov+default_base_moof"
            container = VIDEO_SUFFIXES.get(self.path.suffix.lower(), "mp4")
            options = {} if container == "matroska" else {"movflags": movflags}
            self._container = av.open(str(self.tmp), mode="w", format=container, options=options)
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
        keyframe_every = str(max(1, round(float(self.rate))))  # a keyframe, so a fragment, a second
        # No B-frames: fragmented MP4 has no edit list to hide their delay, and timestamps must
        # start at 0 (they also keep the latency of a live recording down). The preset trades
        # speed for file size: see ``EncoderConfig.preset``.
        options = {"crf": str(self.crf), "preset": self.preset, "g": keyframe_every, "bf": "0"}
        if self.threads > 0:
            options["threads"] = str(self.threads)
        if self.tune:
            options["tune"] = self.tune
        stream.options = options
        self._stream = stream

    def _open_opencv(self, width: int, height: int) -> None:
        import cv2

        self.codec = "mp4v"
        self._cv_size = (width, height)
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
                image = fit_frame(image, self._stream.width, self._stream.height)
            import av

            frame = av.VideoFrame.from_ndarray(bgr_to_i420(np.ascontiguousarray(image)), format="yuv420p")
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        else:
            self._cv_writer.write(np.ascontiguousarray(fit_frame(image, *self._cv_size)))
        self.frames_written += 1

    def close(self, complete: bool = True) -> Path | None:
        """Flush the encoder and move the file into place (see the module docstring for
        ``complete=False``). Returns where the file went (None if no frame was written)."""
        try:
            if self._stream is not None:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
                self._container.close()
            elif self._cv_writer is not None:
                self._cv_writer.release()
        except Exception:
            if complete:
                raise
            # A full disk may refuse the flush too: what is on disk still plays (fragments).
            log.info("could not flush the last frames of %s", self.path)
            self._close_quietly()
        self._stream = self._container = self._cv_writer = None
        self.final_path = _place(self.tmp, self.path, complete, self.existed)
        return self.final_path

    def _close_quietly(self) -> None:
        for closer in (getattr(self._container, "close", None), getattr(self._cv_writer, "release", None)):
            try:
                if closer is not None:
                    closer()
            except Exception:  # noqa: BLE001 - best effort on a failing disk
                pass

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


def fit_frame(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` scaled to fit ``width`` x ``height`` and centred on black (the stream's size
    changed mid-run, e.g. a camera that reconnected at another resolution)."""
    import cv2

    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    scale = min(width / w, height / h)
    nw, nh = max(1, int(w * scale)), max(1, int(h * scale))
    out = np.zeros((height, width, 3), np.uint8)
    x, y = (width - nw) // 2, (height - nh) // 2
    out[y : y + nh, x : x + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return out


def video_writer(
    path: str | Path, fps: float, settings: EncoderConfig, threads: int | None = None
) -> VideoWriter:
    """The annotated video's writer, with the encoder settings of ``settings`` (``threads``
    overrides theirs)."""
    threads = cpu_threads(settings.threads) if threads is None else threads
    tune = "" if settings.tune == "none" else settings.tune
    return VideoWriter(path, fps, threads, settings.preset, settings.crf, tune)


class TrackWriter:
    """Track file writer: MOT (``.txt``), KITTI, or JSON Lines (one record per track per frame).

    Lines are flushed frame by frame, so the file is complete up to the last frame even if the
    process is killed; it is renamed into place on ``close()``. A frame whose write failed (a
    full disk) is cut off again by ``close(complete=False)``.
    """

    def __init__(self, path: str | Path, fmt: str, class_names: tuple[str, ...]) -> None:
        self.path = Path(path)
        self.fmt = fmt
        self.class_names = class_names
        self.tmp = _temporary(self.path)
        self.existed = self.path.exists()
        self.final_path: Path | None = None
        self._fh = self.tmp.open("w")
        self._complete_bytes = 0  # file size after the last frame written whole

    def write(self, frame_index: int, time_s: float, tracks: Tracks) -> None:
        if self.fmt == "mot":
            lines = format_mot_tracks(frame_index, tracks)
        elif self.fmt == "kitti":
            lines = format_kitti_tracks(frame_index, tracks, self.class_names)
        else:
            lines = [json.dumps(self._record(frame_index, time_s, t)) + "\n" for t in tracks]
        self._fh.writelines(lines)
        self._fh.flush()
        self._complete_bytes = self._fh.tell()

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

    def close(self, complete: bool = True) -> Path | None:
        """Move the file into place (see the module docstring); returns where it went."""
        try:
            self._fh.close()
        except OSError:
            if complete:
                raise
        if not complete:
            with self.tmp.open("r+b") as fh:  # drop a frame cut short by a failed write
                fh.truncate(self._complete_bytes)
        self.final_path = _place(self.tmp, self.path, complete, self.existed)
        return self.final_path

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._fh.close()
        self.tmp.unlink(missing_ok=True)
