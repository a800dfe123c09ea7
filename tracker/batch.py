"""Batches of videos (``track batch``): local worker processes, or Ray tasks on a cluster.

One task per video. Each task runs the ordinary pipeline and writes its outputs under names
derived from the input (``<stem>-<hash of the input path>``, sanitised, so names never collide
and never leave the output folder). A manifest (``manifest.jsonl``, one record appended per
finished video) makes a batch resumable: a rerun skips every video recorded as done whose file
is unchanged (same size and modification time) and whose outputs still exist. A failing video is
recorded and reported; it does not stop the batch. At the end: ``summary.csv`` and
``summary.json`` (frames, tracks, frames/s, status, error per video).

Ray (``pip install '.[ray]'``): ``ray.init(address)``; tasks retry when their worker dies; with
GPUs each task asks for a fraction of one.
"""

from __future__ import annotations

import csv
import glob
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import Config, replace_section
from .output_paths import output_stem

VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mov", ".m4v", ".webm", ".ts", ".mpg", ".mpeg"}
LIST_SUFFIXES = {".txt", ".lst", ".list"}
MANIFEST = "manifest.jsonl"


@dataclass
class VideoResult:
    """The outcome of one video (a row of the summary)."""

    input: str
    video_out: str = ""
    tracks_out: str = ""
    frames: int = 0
    tracks: int = 0
    fps: float = 0.0
    status: str = "ok"  # ok, failed or skipped (done by an earlier run)
    error: str = ""
    size: int = 0
    mtime: float = 0.0


@dataclass(frozen=True)
class BatchJob:
    """What every task needs: the config (as a plain dict, so it pickles anywhere), where to
    write, and what to write."""

    config: dict[str, Any]
    out_dir: str
    video: bool = True
    tracks_format: str = "jsonl"
    detector_threads: int = 1  # CPU threads per video (``per_video_config``)


@dataclass
class BatchReport:
    results: list[VideoResult] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def failed(self) -> list[VideoResult]:
        return [r for r in self.results if r.status == "failed"]


# ---------------------------------------------------------------- inputs and names


def expand_inputs(items: Sequence[str]) -> list[Path]:
    """Video files from files, globs, folders (their video files, sorted) and list files (one
    path per line; ``#`` comments). Duplicates are dropped, order kept."""
    out: list[Path] = []
    for item in items:
        path = Path(item)
        if any(ch in item for ch in "*?[") and not path.exists():
            matches = sorted(Path(p) for p in glob.glob(item))
            if not matches:
                raise FileNotFoundError(f"no files match {item}")
            out += [p for p in matches if p.suffix.lower() in VIDEO_SUFFIXES]
        elif path.is_dir():
            out += sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        elif path.suffix.lower() in LIST_SUFFIXES and path.is_file():
            base = path.parent
            for line in path.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    out.append(Path(line) if Path(line).is_absolute() else base / line)
        elif path.exists():
            out.append(path)
        else:
            raise FileNotFoundError(f"input not found: {item}")
    seen, unique = set(), []
    for p in out:
        key = str(p.resolve())
        if key not in seen:
            seen.add(key)
            unique.append(p)
    if not unique:
        raise ValueError("no videos to process")
    return unique


# ---------------------------------------------------------------- one video


def per_video_config(config: Config, threads: int) -> Config:
    """The config of one video of a batch: ``threads`` CPU threads for its detector, one for
    its encoder, and with one thread the stages one after the other (one core per video).
    Across videos the work parallelises better than within one, and every video gets the same
    thread counts, so outputs do not depend on the number of workers."""
    config = replace_section(config, "detector", threads=threads)
    config = replace_section(config, "encoder", threads=1)
    return replace_section(config, "run", threaded=False) if threads == 1 else config


def process_video(video: str, job: BatchJob) -> VideoResult:
    """Track one video (runs in a worker process or a Ray task). Never raises: a failure is a
    result with status ``failed``."""
    from .config import config_from_dict
    from .pipeline import Pipeline

    path = Path(video)
    result = VideoResult(input=str(path))
    try:
        stat = path.stat()
        result.size, result.mtime = stat.st_size, stat.st_mtime
        video_out, tracks_out = video_outputs(path, job)
        config = per_video_config(config_from_dict(job.config), job.detector_threads)
        _limit_threads(job.detector_threads)
        with Pipeline(config, _detector(config)) as pipeline:
            summary = pipeline.run(path, video_out, tracks_out, job.tracks_format)
        result.video_out = str(video_out) if video_out else ""
        result.tracks_out = str(tracks_out)
        result.frames, result.tracks, result.fps = summary.frames, summary.tracks, round(summary.fps, 2)
        if summary.frames == 0:
            raise ValueError("no frames could be decoded")
    except Exception as exc:  # noqa: BLE001 - one bad video must not stop the batch
        result.status = "failed"
        result.error = f"{type(exc).__name__}: {exc}"
    return result


_detectors: dict[str, Any] = {}


def _detector(config):
    """One detector per worker process and detector config (loading weights once, not per
    video)."""
    from .detect import detector_from_config

    key = json.dumps(asdict(config.detector), sort_keys=True)
    if key not in _detectors:
        _detectors.clear()
        _detectors[key] = detector_from_config(config)
    return _detectors[key]


def _limit_threads(threads: int) -> None:
    """Workers share the machine: each gets ``threads`` for torch and OpenCV."""
    import cv2
    import torch

    torch.set_num_threads(max(1, threads))
    cv2.setNumThreads(max(1, threads))


# ---------------------------------------------------------------- manifest


def video_outputs(video: str | Path, job: BatchJob) -> tuple[Path | None, Path]:
    """Where the annotated video (None without one) and the track file of ``video`` go."""
    stem = output_stem(Path(video))
    out_dir = Path(job.out_dir)
    video_out = out_dir / f"{stem}.mp4" if job.video else None
    return video_out, out_dir / f"{stem}.{'jsonl' if job.tracks_format == 'jsonl' else 'txt'}"


def load_manifest(out_dir: Path) -> dict[str, dict]:
    """Finished videos by input path (the last record of each wins); unreadable lines (a run
    killed mid-write) are ignored."""
    done: dict[str, dict] = {}
    path = out_dir / MANIFEST
    if not path.is_file():
        return done
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
            done[record["input"]] = record
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return done


def is_done(video: Path, record: dict | None) -> bool:
    if not record or record.get("status") != "ok":
        return False
    try:
        stat = video.stat()
    except OSError:
        return False
    outputs = [record.get("video_out"), record.get("tracks_out")]
    return (
        stat.st_size == record.get("size")
        and abs(stat.st_mtime - record.get("mtime", -1)) < 1e-3
        and all(Path(p).is_file() for p in outputs if p)
    )


def _append(out_dir: Path, result: VideoResult) -> None:
    with (out_dir / MANIFEST).open("a") as fh:
        fh.write(json.dumps(asdict(result)) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def write_summary(out_dir: Path, results: Iterable[VideoResult]) -> None:
    from .formats import write_lines_atomic

    rows = [asdict(r) for r in results]
    columns = ["input", "status", "frames", "tracks", "fps", "video_out", "tracks_out", "error"]
    tmp = out_dir / ".summary.csv.part"
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(out_dir / "summary.csv")
    write_lines_atomic(out_dir / "summary.json", [json.dumps(rows, indent=2) + "\n"])


# ---------------------------------------------------------------- runners


def run_batch(
    videos: Sequence[Path],
    job: BatchJob,
    workers: int = 1,
    ray_address: str | None = None,
    use_ray: bool = False,
    progress: Callable[[VideoResult], None] | None = None,
) -> BatchReport:
    """Process ``videos``, skipping the ones the manifest records as done."""
    out_dir = Path(job.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    manifest = load_manifest(out_dir)
    results: dict[str, VideoResult] = {}
    todo = []
    for video in videos:
        key = str(video)
        record = manifest.get(key)
        if is_done(video, record):
            fields = {k: record[k] for k in VideoResult.__dataclass_fields__ if k in record}
            results[key] = VideoResult(**{**fields, "status": "skipped"})
            if progress:
                progress(results[key])
        else:
            todo.append(key)

    def finished(result: VideoResult) -> None:
        results[result.input] = result
        _append(out_dir, result)
        if progress:
            progress(result)

    if use_ray:
        _run_ray(todo, job, ray_address, finished)
    elif workers <= 1:
        for video in todo:
            finished(process_video(video, job))
    else:
        _run_processes(todo, job, workers, finished)
    report = BatchReport(
        [results[str(v)] for v in videos if str(v) in results], time.perf_counter() - started
    )
    write_summary(out_dir, report.results)
    return report


def _run_processes(todo: list[str], job: BatchJob, workers: int, finished) -> None:
    import multiprocessing
    import threading

    # fork starts workers at once (no second import of torch); it is safe only while this
    # process runs no other thread (their locks would be copied held). Otherwise spawn.
    method = (
        "fork"
        if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
        else "spawn"
    )
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(process_video, video, job): video for video in todo}
        for future in as_completed(futures):
            try:
                finished(future.result())
            except Exception as exc:  # noqa: BLE001 - a worker that died: record, go on
                finished(VideoResult(input=futures[future], status="failed", error=f"worker died: {exc}"))


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _run_ray(todo: list[str], job: BatchJob, address: str | None, finished) -> None:
    import ray

    if not ray.is_initialized():
        ray.init(address=address or None, log_to_driver=False, logging_level=logging.WARNING)
    gpus = ray.cluster_resources().get("GPU", 0)
    options: dict[str, Any] = {
        "num_cpus": max(1, job.detector_threads),
        "max_retries": 3,
        "retry_exceptions": False,
    }
    if gpus:
        options["num_gpus"] = 0.25  # four videos share a GPU: the detector rarely fills one
    task = ray.remote(process_video).options(**options)
    pending = {task.remote(video, job): video for video in todo}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            video = pending.pop(ref)
            try:
                finished(ray.get(ref))
            except Exception as exc:  # noqa: BLE001 - retries exhausted: record, go on
                finished(VideoResult(input=video, status="failed", error=f"{type(exc).__name__}: {exc}"))
