"""Where a run's outputs go and what they may not be: output names, known extensions, and the
checks made before any work starts (no output replaces an input; folders exist; existing files
are replaced only when asked)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path


def output_stem(video: Path) -> str:
    """A name for the outputs of ``video``: its stem, sanitised, plus a hash of its full path
    (two ``clip.mp4`` in different folders do not collide; nothing can escape the folder)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", video.stem).strip("._") or "video"
    digest = hashlib.sha1(str(video.resolve()).encode()).hexdigest()[:8]
    return f"{stem[:80]}-{digest}"


def stream_stem(spec, index: int) -> str:
    """Output name of a stream: the file's (``output_stem``), else ``stream-<i>``."""
    text = str(spec)
    if isinstance(spec, int) or text.isdigit() or "://" in text or not Path(text).exists():
        return f"stream-{index}"
    return output_stem(Path(text))


TRACK_FORMATS = ("mot", "kitti", "jsonl")


def track_format_for(path: Path, explicit: str | None, name: str = "tracks_out") -> str:
    """The format of a track file: ``explicit`` (mot, kitti, jsonl), else by extension (.txt
    MOT, .jsonl JSON Lines); an extension that does not fit the format is an error."""
    if explicit and explicit not in TRACK_FORMATS:
        raise ValueError(f"unknown track format {explicit!r}: expected one of {', '.join(TRACK_FORMATS)}")
    suffix = Path(path).suffix.lower()
    by_suffix = TRACK_SUFFIXES.get(suffix)
    if by_suffix is None:
        raise ValueError(
            f"{name} {path}: unknown track file extension {suffix or '(none)'!r}; expected .txt "
            "(MOT, or KITTI with the kitti format) or .jsonl (JSON Lines)"
        )
    if explicit is None:
        return by_suffix
    if (explicit == "jsonl") != (by_suffix == "jsonl"):
        want = ".jsonl" if explicit == "jsonl" else ".txt"
        raise ValueError(f"{name} {path}: the {explicit} format is written to a {want} file")
    return explicit


VIDEO_SUFFIXES = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov"}  # suffix -> container
TRACK_SUFFIXES = {".txt": "mot", ".jsonl": "jsonl"}  # suffix -> format (KITTI: --tracks-format)


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` name one file: the same path once links are resolved, or the
    same inode (a hard link)."""
    if Path(a).resolve() == Path(b).resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def check_outputs(
    inputs,
    video: str | Path | None = None,
    tracks: str | Path | None = None,
    tracks_format: str | None = None,
    overwrite: bool = True,
    names: tuple[str, str] = ("out_video", "tracks_out"),
    hint: str = "pass overwrite=True to replace it",
) -> None:
    """Check a run's outputs before any work starts, naming each path as the user gave it
    (``names``: what the user calls the two outputs, e.g. ``--out`` and ``--tracks-out``).

    Raises ``ValueError`` for an output that is the same file as one of ``inputs`` (whatever
    ``overwrite`` says: nothing ever replaces an input), or whose extension is not a known one
    (video: .mp4, .mkv, .mov; tracks: .txt for MOT and KITTI, .jsonl), ``FileNotFoundError`` for
    a missing folder, and, unless ``overwrite``, ``FileExistsError`` for an existing file."""
    outputs = [(n, p) for n, p in zip(names, (video, tracks), strict=True) if p is not None]
    refuse_inputs(inputs, outputs)
    if video is not None and Path(video).suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(
            f"{names[0]} {video}: unknown video extension {Path(video).suffix or '(none)'!r}; "
            f"expected one of {', '.join(VIDEO_SUFFIXES)}"
        )
    if tracks is not None:
        track_format_for(Path(tracks), tracks_format, names[1])
    for name, path in outputs:
        folder = Path(path).parent
        if not folder.is_dir():
            raise FileNotFoundError(f"{name} {path}: folder {folder} does not exist")
        if Path(path).is_dir():
            raise ValueError(f"{name} {path} is a folder; give a file name")
    refuse_existing([p for _, p in outputs], overwrite, hint)


def refuse_inputs(inputs, outputs) -> None:
    """``ValueError`` for the first of ``outputs`` (``(name, path)`` pairs) that is the same
    file as one of ``inputs`` (paths; anything else, a camera index or a frame source, is no
    file to protect): checked before ``--overwrite`` is even looked at."""
    for name, path in outputs:
        for source in inputs:
            if isinstance(source, (str, Path)) and same_file(path, source):
                raise ValueError(f"{name} {path} is the input {source}; refusing to replace an input")


def refuse_existing(paths, overwrite: bool, hint: str = "pass overwrite=True to replace it") -> None:
    """Unless ``overwrite``, raise ``FileExistsError`` for the first of ``paths`` (None: no such
    output) that exists: a run that would replace a file must be asked to (``hint``: how)."""
    if overwrite:
        return
    for path in paths:
        if path is not None and Path(path).exists():
            raise FileExistsError(f"{path} exists; {hint}")
