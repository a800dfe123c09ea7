"""The ``track`` command line: a thin shell over the Python API. It parses, calls the API,
prints, and maps errors to exit codes: errors in what the user gave (files, configs, options)
end as one line on stderr and exit code 2, never a traceback.

The video commands (``track VIDEO``, ``batch``, ``multi``) are here, with what they share in
``tracker.commands.video``; ``detect`` and the dataset, training and generator commands are in
``tracker.commands``.
"""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path

import click

from .commands import detect, evaluate, train
from .commands.common import class_list, user_errors, video_config
from .commands.video import (
    Progress,
    early_end,
    inputs_of,
    refuse_out_dir,
    signals_stop,
    stage_rates,
    summary_line,
)
from .config import diff_from_default, replace_section

# The names the commands here have always used.
_user_errors, _video_config, _class_list = user_errors, video_config, class_list


class _DefaultRunGroup(click.Group):
    """``track VIDEO ...`` means ``track run VIDEO ...``: the main job needs no sub-command."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            if not _could_be_source(args[0]):
                self._no_such_command(ctx, args)
            args = ["run", *args]
        return super().parse_args(ctx, args)

    def _no_such_command(self, ctx, args) -> None:
        """A first word that is no file, URL or camera index and reads like a mistyped command
        (``track tarck video.mp4``) gets click's "No such command" with the nearest names."""
        name = args[0]
        # "track": the user typed the program's name twice, or meant the main job
        close = difflib.get_close_matches(name, [*self.commands, "track"], n=2, cutoff=0.6)
        names = " or ".join(
            "'run' (track SOURCE ... is track run SOURCE ...)" if c == "track" else f"'{c}'" for c in close
        )
        if close:
            ctx.fail(f"No such command '{name}'. Did you mean {names}?")
        if len(args) > 1 and not args[1].startswith("-"):  # "track WORD VIDEO": no such command
            ctx.fail(
                f"No such command '{name}' (and no file of that name). Commands: {', '.join(self.commands)}."
            )


def _could_be_source(text: str) -> bool:
    """Whether ``text`` could be what ``track SOURCE`` tracks: a path that exists or has a
    suffix or a folder in it, a URL, a camera index or a glob."""
    if text.isdigit() or "://" in text or any(ch in text for ch in "*?[") or "/" in text:
        return True
    return Path(text).exists() or bool(Path(text).suffix)


EXAMPLES = """
\b
Examples:
  track video.mp4 --out annotated.mp4 --tracks-out tracks.jsonl       (YOLOX-nano)
  track 0 --no-video --tracks-out live.jsonl                           (camera 0)
  track detect frames/ --fps 10 --out detections.jsonl
  track video.mp4 --detector file:detections.jsonl --out annotated.mp4
  track synth clip.mp4 --gt clip_gt.txt --seed 3
  track video.mp4 --config kitti --tracks-out tracks.txt                (a shipped preset; track configs)
  track eval ../shared/data/kitti --format kitti --detections det_pointrcnn \\
      --results-out runs/kitti --json runs/kitti.json
  track tune ../shared/data/kitti --format kitti --trials 60 --out configs/tuned.yaml
"""


@click.group(cls=_DefaultRunGroup, help="Multi-object tracking for driving footage.\n" + EXAMPLES)
@click.version_option(package_name="driving-tracker")
def main() -> None:
    pass


for _command in (
    detect.detect_command,
    evaluate.eval_command,
    evaluate.tune_command,
    evaluate.calibrate_command,
    evaluate.eval_motion_command,
    train.train_detector_command,
    train.train_motion_command,
    train.synth_command,
):
    main.add_command(_command)


@main.command("run")
@click.argument("source")
@click.option("--out", "out_video", type=click.Path(dir_okay=False), help="Annotated video (H.264 MP4).")
@click.option(
    "--detector",
    "detector_spec",
    help="yolox-nano (default) ... yolox-x, builtin, onnx:PATH, torchvision:NAME or file:PATH.",
)
@click.option("--weights", help="Weights file for the detector (YOLOX .pth/.onnx; no lookup, no download).")
@click.option("--classes", help="Comma-separated class names to keep (default: road users).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Where the detector runs.")
@click.option(
    "--config", "config_path", help="YAML config file, or a shipped preset by name (track configs)."
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
@click.option(
    "--tracks-out", type=click.Path(dir_okay=False), help="Track file: .txt MOT, .jsonl JSON Lines."
)
@click.option(
    "--tracks-format", type=click.Choice(["mot", "kitti", "jsonl"]), help="Override the track format."
)
@click.option("--fps", type=float, help="Frame rate for sources without one (image folders).")
@click.option("--no-video", is_flag=True, help="Write no video (tracks only).")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@_user_errors
def run_command(
    source,
    out_video,
    detector_spec,
    weights,
    classes,
    device,
    config_path,
    overrides,
    tracks_out,
    tracks_format,
    fps,
    no_video,
    overwrite,
):
    """Track SOURCE (video file, image folder or glob, camera index, RTSP/HTTP URL)."""
    from .pipeline import Pipeline

    extra = [f"detector.weights={weights}"] if weights else []
    extra += [f"detector.device={device}"] if device else []
    config = _video_config(config_path, overrides, detector_spec, *extra)
    if classes:
        config = replace_section(config, "detector", classes=_class_list(classes))
    if no_video:
        out_video = None
    if out_video is None and tracks_out is None:
        raise click.UsageError("nothing to write: give --out and/or --tracks-out")
    from .output_paths import check_outputs
    from .source import open_source

    names, hint = ("--out", "--tracks-out"), "pass --overwrite to replace it"
    inputs = inputs_of(source, config_path, config)
    check_outputs(inputs, out_video, tracks_out, tracks_format, overwrite, names, hint)

    with Pipeline(config) as pipeline, signals_stop(pipeline):
        stream = open_source(source, fps, live=config.source)
        bar = Progress(None if stream.live else stream.num_frames)
        try:
            summary = pipeline.run(stream, out_video, tracks_out, tracks_format, fps, on_frame=bar.update)
        except BaseException as exc:  # noqa: BLE001 - every early end is reported the same way
            bar.close()
            early_end(exc, pipeline.last_summary)
        bar.close()
    if summary.frames == 0:
        raise ValueError(f"no frames could be decoded from {source}")
    # Each stage timed at its own work within this run (so slowed by the others beside it).
    click.echo(f"{summary_line(summary)} (per stage: {stage_rates(summary)} frames/s)", err=True)


@main.command("configs")
def configs_command() -> None:
    """List the shipped config presets: give one by name (--config kitti), in Python too
    (load_config("kitti"), Pipeline.from_config("default"))."""
    from .config import preset_names, preset_path

    for name in preset_names():
        click.echo(f"{name:<12}{preset_path(name)}")


@main.command("batch")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--out-dir", type=click.Path(file_okay=False), required=True, help="Where every output goes.")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=os.cpu_count() or 1,
    help="Local processes [default: cores].",
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="auto",
    default=None,
    metavar="[ADDRESS]",
    help="Run on a Ray cluster (ray.init(ADDRESS); alone: the local cluster or a new one).",
)
@click.option("--detector", "detector_spec", help="Detector spec (default yolox-nano; see track --help).")
@click.option(
    "--config", "config_path", help="YAML config file, or a shipped preset by name (track configs)."
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
@click.option("--no-video", is_flag=True, help="Track files only.")
@click.option(
    "--tracks-format", type=click.Choice(["jsonl", "mot", "kitti"]), default="jsonl", show_default=True
)
@click.option(
    "--threads", type=click.IntRange(1, 256), default=1, show_default=True, help="CPU threads per video."
)
@_user_errors
def batch_command(
    inputs,
    out_dir,
    workers,
    ray_address,
    detector_spec,
    config_path,
    overrides,
    no_video,
    tracks_format,
    threads,
):
    """Track every video of INPUTS (files, globs, folders, list files) into --out-dir.

    Resumable (a manifest records finished videos; a rerun skips them); one failing video is
    reported and the batch goes on. Writes summary.csv and summary.json.
    """
    from .batch import BatchJob, expand_inputs, ray_available, run_batch, video_outputs

    if ray_address is not None and not ray_available():
        raise click.UsageError(
            "Ray is not installed: pip install 'driving-tracker[ray]' (or pip install ray)"
        )
    config = _video_config(config_path, overrides, detector_spec)
    videos = expand_inputs(inputs)
    # threads per video: see batch.per_video_config (one core per video by default)
    job = BatchJob(diff_from_default(config), str(out_dir), not no_video, tracks_format, threads)
    refuse_out_dir(
        out_dir, [*videos, *inputs_of(None, config_path, config)], [video_outputs(v, job) for v in videos]
    )
    from tqdm import tqdm

    bar = tqdm(total=len(videos), unit="video", disable=not sys.stderr.isatty())

    def progress(result):
        bar.update(1)
        if result.status == "failed":
            bar.write(f"failed: {result.input}: {result.error}", file=sys.stderr)

    use_ray = ray_address is not None
    address = None if ray_address in (None, "auto") else ray_address
    report = run_batch(videos, job, workers, address, use_ray, progress)
    bar.close()
    counts = {s: sum(r.status == s for r in report.results) for s in ("ok", "skipped", "failed")}
    frames = sum(r.frames for r in report.results if r.status == "ok")
    click.echo(
        f"{len(report.results)} videos in {report.wall_s:.1f} s: {counts['ok']} done, "
        f"{counts['skipped']} skipped (already done), {counts['failed']} failed; {frames} frames; "
        f"summary in {out_dir}/summary.csv",
        err=True,
    )
    if counts["failed"]:
        sys.exit(1)


@main.command("multi")
@click.argument("sources", nargs=-1, required=True)
@click.option("--out-dir", type=click.Path(file_okay=False), required=True, help="Where every output goes.")
@click.option("--detector", "detector_spec", help="Detector spec (default yolox-nano; see track --help).")
@click.option(
    "--config", "config_path", help="YAML config file, or a shipped preset by name (track configs)."
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
@click.option("--fps", type=float, help="Frame rate for sources without one (image folders).")
@click.option("--no-video", is_flag=True, help="Track files only.")
@_user_errors
def multi_command(sources, out_dir, detector_spec, config_path, overrides, fps, no_video):
    """Track several SOURCES (files, cameras, URLs) at once through one shared detector, which
    batches frames across them; each source gets its own tracks and outputs in --out-dir."""
    from .detect import detector_from_config
    from .multi import output_paths, run_multi

    config = _video_config(config_path, overrides, detector_spec)
    paths = output_paths(out_dir, sources, not no_video)
    refuse_out_dir(out_dir, [*sources, *inputs_of(None, config_path, config)], paths)
    detector = detector_from_config(config)
    summaries, stats, wall_s = run_multi(config, detector, list(sources), out_dir, not no_video, fps)
    for s in summaries:
        state = f"error: {s.error}" if s.error else "ok"
        click.echo(f"{s.name}: {s.frames} frames, {s.tracks} tracks -> {s.tracks_out} ({state})", err=True)
    frames = sum(s.frames for s in summaries)
    click.echo(
        f"{len(summaries)} streams, {frames} frames in {wall_s:.1f} s "
        f"({frames / max(wall_s, 1e-9):.1f} frames/s combined; "
        f"{stats.mean_batch:.1f} frames per detector pass)",
        err=True,
    )
    if any(s.error for s in summaries):
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
