"""The ``track`` command line: a thin shell over the Python API.

Errors in what the user gave (files, configs, options) end as one line on stderr and exit
code 2, never a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sys
from pathlib import Path

import click
import yaml

from .config import Config, ConfigError, diff_from_default, load_config, preset_path
from .formats import FormatError, write_lines_atomic

EXAMPLES = """
\b
Examples:
  track video.mp4 --detector onnx:yolox_nano.onnx --out annotated.mp4 --tracks-out tracks.jsonl
  track 0 --detector onnx:yolox_nano.onnx --no-video --tracks-out live.jsonl     (camera 0)
  track synth clip.mp4 --gt clip_gt.txt --seed 3
  track eval ../shared/data/kitti --format kitti --detections det_pointrcnn \\
      --results-out runs/kitti --json runs/kitti.json
  track tune ../shared/data/kitti --format kitti --trials 60 --out configs/tuned.yaml
"""

USER_ERRORS = (ConfigError, FormatError, FileNotFoundError, FileExistsError, NotADirectoryError, ValueError)


def _user_errors(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except click.exceptions.ClickException:
            raise
        except USER_ERRORS as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - never a traceback: one line and a non-zero code
            click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            sys.exit(1)

    return wrapper


class _DefaultRunGroup(click.Group):
    """``track VIDEO ...`` means ``track run VIDEO ...``: the main job needs no sub-command."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultRunGroup, help="Multi-object tracking for driving footage.\n" + EXAMPLES)
@click.version_option(package_name="driving-tracker")
def main() -> None:
    pass


def _load(config_path: str | None, overrides: tuple[str, ...], fmt: str) -> Config:
    path = config_path if config_path is not None else preset_path("kitti" if fmt == "kitti" else "default")
    return load_config(path, list(overrides))


def _video_config(config_path: str | None, overrides, detector_spec: str | None = None, *more: str) -> Config:
    """The config of a video command: ``--config`` (default: configs/default.yaml), ``--set``
    overrides, ``--detector`` and the command's own settings (``more``), in that order."""
    extra = [*overrides, *([f"detector.kind={detector_spec}"] if detector_spec else []), *more]
    return load_config(config_path or preset_path("default"), extra)


def _class_list(classes: str) -> tuple[str, ...]:
    """``--classes car,pedestrian`` -> ("car", "pedestrian")."""
    return tuple(c.strip() for c in classes.split(",") if c.strip())


def _load_dataset(data: str, fmt: str, detections: str, fps: float | None):
    from .eval.datasets import KITTI_FPS, load_kitti, load_mot

    if fmt == "kitti":
        return load_kitti(data, detections, fps or KITTI_FPS)
    return load_mot(data, fps)


_common = [
    click.argument("data", type=click.Path(path_type=str)),
    click.option("--format", "fmt", type=click.Choice(["kitti", "mot"]), default="kitti", show_default=True),
    click.option(
        "--detections",
        default="det_pointrcnn",
        show_default=True,
        help="KITTI: sub-folder of DATA with {car,pedestrian,cyclist}/SSSS.txt detection files.",
    ),
    click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config file."),
    click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key."),
    click.option("--fps", type=float, help="Frame rate of the sequences (KITTI: 10; MOT: seqinfo.ini)."),
]


def _with_common(func):
    for decorator in reversed(_common):
        func = decorator(func)
    return func


@main.command("eval")
@_with_common
@click.option(
    "--results-out", type=click.Path(file_okay=False), required=True, help="Folder for SEQ.txt results."
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the metrics as JSON.")
@click.option("--per-sequence", is_flag=True, help="Also print every sequence.")
@click.option(
    "--interpolate-gaps",
    type=click.IntRange(0, 1000),
    default=0,
    show_default=True,
    help="Offline post-processing: fill gaps of up to N frames inside tracks (not online).",
)
@click.option(
    "--gt", "gt_path", type=click.Path(dir_okay=False), help="DATA is a video: its MOT ground truth."
)
@click.option("--detector", "detector_spec", help="DATA is a video: the detector (default: builtin).")
@_user_errors
def eval_command(
    data,
    fmt,
    detections,
    config_path,
    overrides,
    fps,
    results_out,
    json_path,
    per_sequence,
    interpolate_gaps,
    gt_path,
    detector_spec,
):
    """Track every sequence of a dataset from its detection files and score it with TrackEval.

    DATA is a dataset folder (KITTI or MOT layout), or a video with its MOT ground truth (--gt),
    tracked with the whole pipeline. Prints HOTA, DetA, AssA, MOTA, IDF1 and IDSW per class. The
    tracker is online: each frame is decided from past frames only.
    """
    from .eval.datasets import run_dataset, total_frames

    if Path(data).is_file():
        _eval_video(data, gt_path, detector_spec, config_path, overrides, results_out, json_path)
        return
    if not Path(data).exists():
        raise FileNotFoundError(f"dataset folder not found: {data}")
    config = _load(config_path, overrides, fmt)
    dataset = _load_dataset(data, fmt, detections, fps)
    post = None
    if interpolate_gaps:
        from .postprocess import interpolate_gaps as fill

        def post(per_frame):
            return fill(per_frame, interpolate_gaps)

    seconds = run_dataset(dataset, config.tracker, results_out, post)
    metrics = dataset.evaluate(Path(results_out))
    frames = total_frames(dataset)
    rows = [("ALL", cls, m) for cls, m in metrics["COMBINED"].items()]
    if per_sequence:
        rows += [(seq, cls, m) for seq, per in metrics.items() if seq != "COMBINED" for cls, m in per.items()]
    if interpolate_gaps:
        click.echo(f"offline: gaps of up to {interpolate_gaps} frames filled by interpolation")
    click.echo(_table(rows))
    speed = frames / max(seconds, 1e-9)
    click.echo(f"{len(dataset.sequences)} sequences, {frames} frames, tracker {speed:.0f} frames/s")
    if json_path:
        payload = {
            "format": fmt,
            "online": interpolate_gaps == 0,
            "interpolate_gaps": interpolate_gaps,
            "data": str(data),
            "metrics": {cls: m.as_dict() for cls, m in metrics["COMBINED"].items()},
            "sequences": {
                seq: {cls: m.as_dict() for cls, m in per.items()}
                for seq, per in metrics.items()
                if seq != "COMBINED"
            },
            "frames": frames,
            "tracker_fps": speed,
            "config": diff_from_default(config) or {},
        }
        write_lines_atomic(json_path, [json.dumps(payload, indent=2), "\n"])


def _eval_video(video, gt_path, detector_spec, config_path, overrides, results_out, json_path) -> None:
    from .eval.video import evaluate_videos

    if not gt_path:
        raise click.UsageError("DATA is a video: give its MOT ground truth with --gt")
    config = _video_config(config_path, overrides, detector_spec)
    metrics, summaries = evaluate_videos([(Path(video), Path(gt_path))], config, results_out)
    click.echo(_table([("ALL", cls, m) for cls, m in metrics["COMBINED"].items()]))
    click.echo(f"{summaries[0].frames} frames, pipeline {summaries[0].fps:.1f} frames/s")
    if json_path:
        payload = {"video": str(video), "metrics": {c: m.as_dict() for c, m in metrics["COMBINED"].items()}}
        write_lines_atomic(json_path, [json.dumps(payload, indent=2), "\n"])


def _table(rows) -> str:
    header = (
        f"{'sequence':<10}{'class':<12}{'HOTA':>7}{'DetA':>7}{'AssA':>7}{'MOTA':>8}{'IDF1':>7}{'IDSW':>6}"
    )
    lines = [header, "-" * len(header)]
    for seq, cls, m in rows:
        lines.append(
            f"{seq:<10}{cls:<12}{m.HOTA:7.2f}{m.DetA:7.2f}{m.AssA:7.2f}{m.MOTA:8.2f}{m.IDF1:7.2f}{m.IDSW:6d}"
        )
    return "\n".join(lines)


@main.command("tune")
@_with_common
@click.option(
    "--out", "out_path", type=click.Path(dir_okay=False), required=True, help="Best config as YAML."
)
@click.option(
    "--trials", type=click.IntRange(1, 10000), default=60, show_default=True, help="Trials per class."
)
@click.option(
    "--classes", default="car,pedestrian", show_default=True, help="KITTI classes to tune, in order."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option(
    "--space", "space_path", type=click.Path(dir_okay=False), help="YAML: dotted key -> list of values."
)
@_user_errors
def tune_command(
    data, fmt, detections, config_path, overrides, fps, out_path, trials, classes, seed, workers, space_path
):
    """Random search of tracker settings on a dataset, per class; writes the best config.

    Tune on a development split only, and judge the result on held-out sequences.
    """
    from .eval.tune import tune

    config = _load(config_path, overrides, fmt)
    dataset = _load_dataset(data, fmt, detections, fps)
    space = _load_space(space_path) if space_path else None
    class_list = _class_list(classes) if fmt == "kitti" else None

    def progress(cls, i, trial):
        click.echo(f"{cls} trial {i + 1}/{trials}: HOTA {trial.hota:.2f}", err=True)

    best, results = tune(dataset, config, class_list, trials, seed, space, workers, progress)
    for r in results:
        click.echo(
            f"{r.cls}: start {r.start.hota:.2f} -> best {r.best.hota:.2f} "
            f"(leave-one-sequence-out {r.loso_hota:.2f}; better on {r.sequences_improved}/"
            f"{len(r.start.per_sequence)} sequences)"
        )
    text = "# Written by `track tune`; only what differs from the defaults.\n"
    text += yaml.safe_dump(diff_from_default(best) or {}, sort_keys=True)
    write_lines_atomic(out_path, [text])
    click.echo(f"wrote {out_path}")


def _load_space(path: str) -> dict:
    from .eval.tune import DEFAULT_SPACE

    raw = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(raw, dict) or not all(isinstance(v, list) and v for v in raw.values()):
        raise ConfigError(f"{path}: expected a mapping of dotted key to a non-empty list of values")
    unknown = sorted(set(raw) - set(DEFAULT_SPACE))
    probe = Config()
    for key in unknown:
        node = probe.tracker
        for part in key.split("."):
            if not hasattr(node, part):
                raise ConfigError(f"{path}: unknown key tracker.{key}")
            node = getattr(node, part)
    return raw


@main.command("calibrate")
@click.argument("data", type=click.Path(path_type=str))
@click.option("--format", "fmt", type=click.Choice(["kitti", "mot"]), default="kitti", show_default=True)
@click.option("--detections", default="det_pointrcnn", show_default=True, help="KITTI detection folder.")
@click.option("--classes", default="car,pedestrian", show_default=True, help="KITTI classes to measure.")
@click.option(
    "--min-iou", type=click.FloatRange(0.05, 0.95), default=0.3, show_default=True, help="IoU to pair boxes."
)
@_user_errors
def calibrate_command(data, fmt, detections, classes, min_iou):
    """Measure how much wider or taller the detections are than the true boxes, per class and
    per sequence, and print the box_scale that undoes a bias found on every sequence."""
    from .eval.calibrate import box_bias

    dataset = _load_dataset(data, fmt, detections, None)
    class_list = _class_list(classes) if fmt == "kitti" else ("pedestrian",)
    for bias in box_bias(dataset, class_list, min_iou):
        click.echo(
            f"{bias.cls}: {bias.pairs} pairs, median log(detected / true) width {bias.log_width:+.3f}, "
            f"height {bias.log_height:+.3f}"
        )
        for name, (n, lw, lh) in bias.per_sequence.items():
            click.echo(f"    {name}: {n:5d} pairs  width {lw:+.3f}  height {lh:+.3f}")
        width, height = bias.box_scale
        width = width if bias.consistent(0) else 1.0
        height = height if bias.consistent(1) else 1.0
        click.echo(f"    -> tracker.per_class.{bias.cls}.box_scale: [{width}, {height}]")


@main.command("run")
@click.argument("source")
@click.option("--out", "out_video", type=click.Path(dir_okay=False), help="Annotated video (H.264 MP4).")
@click.option("--detector", "detector_spec", help="onnx:PATH, torchvision:NAME or file:PATH.")
@click.option("--weights", help="Local checkpoint for a torchvision detector (no download).")
@click.option("--classes", help="Comma-separated class names to keep (default: road users).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Where the detector runs.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config file.")
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
    extra += [f"detector.classes=[{classes}]"] if classes else []
    config = _video_config(config_path, overrides, detector_spec, *extra)
    if no_video:
        out_video = None
    if out_video is None and tracks_out is None:
        raise click.UsageError("nothing to write: give --out and/or --tracks-out")
    for path in (out_video, tracks_out):
        if path is not None and Path(path).exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    from .source import open_source

    with Pipeline(config) as pipeline, _signals_stop(pipeline):
        stream = open_source(source, fps, default_fps=config.tracker.frame_rate, live=config.source)
        bar = _Progress(None if stream.live else stream.num_frames)
        try:
            summary = pipeline.run(stream, out_video, tracks_out, tracks_format, fps, on_frame=bar.update)
        except BaseException as exc:  # noqa: BLE001 - every early end is reported the same way
            bar.close()
            _early_end(exc, pipeline.last_summary)
        bar.close()
    if summary.frames == 0:
        raise ValueError(f"no frames could be decoded from {source}")
    # Each stage timed at its own work within this run (so slowed by the others beside it).
    click.echo(f"{_summary_line(summary)} (per stage: {_stage_rates(summary)} frames/s)", err=True)


def _summary_line(summary) -> str:
    text = f"{summary.frames} frames, {summary.tracks} tracks, {summary.fps:.1f} frames/s"
    if summary.corrupt_frames_skipped:
        text += f", {summary.corrupt_frames_skipped} corrupt frames skipped"
    if summary.dropped_frames:
        text += f", {summary.dropped_frames} frames dropped (latest-frame policy)"
    if summary.invalid_detections:
        text += f", {summary.invalid_detections} invalid detections dropped (NaN, infinite or empty boxes)"
    if summary.reconnects:
        gaps = ", ".join(f"{g:.1f}" for g in summary.gaps_s[-5:])
        text += f", {summary.reconnects} reconnects (gaps {gaps} s)"
    return text


def _stage_rates(summary) -> str:
    return ", ".join(f"{k} {v:.0f}" for k, v in summary.stage_fps().items())


@contextlib.contextmanager
def _signals_stop(pipeline):
    """SIGINT and SIGTERM end a run the same way: at the next frame boundary, outputs
    finalised, one message (exit codes 130 and 143). A second signal stops at once."""
    from .pipeline import Terminated

    reasons = {signal.SIGINT: KeyboardInterrupt, signal.SIGTERM: Terminated}

    def handler(signum, frame):
        if pipeline.stop_requested:  # asked twice: do not wait for the frame
            raise reasons[signum]()
        pipeline.request_stop(reasons[signum])

    try:
        previous = {sig: signal.signal(sig, handler) for sig in reasons}
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _early_end(exc: BaseException, summary) -> None:
    """One line on stderr for a run that ended early, and its exit code."""
    from .pipeline import Terminated

    frames = summary.frames if summary else 0
    outputs = ", ".join(str(p) for p in summary.outputs) if summary and summary.outputs else ""
    kept = f"outputs finalised up to frame {frames}: {outputs}" if outputs else "no output written"
    if isinstance(exc, KeyboardInterrupt):
        what, code = "interrupted", 130
    elif isinstance(exc, Terminated):
        what, code = "terminated (SIGTERM)", 143
    else:
        stage = getattr(exc, "stage", None)
        where = f"{stage} stage failed" if stage else "failed"
        detail = str(exc) if isinstance(exc, USER_ERRORS) else f"{type(exc).__name__}: {exc}"
        what = f"error: {where} after {frames} frames: {detail}"
        code = 2 if isinstance(exc, USER_ERRORS) and frames == 0 else 1
    click.echo(f"{what}; {kept}", err=True)
    sys.exit(code)


class _Progress:
    """tqdm on stderr: frames/s and ETA for files (known length), a frames/s line for streams."""

    def __init__(self, total: int | None) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="frame", disable=not sys.stderr.isatty(), dynamic_ncols=True)
        self.n = 0

    def update(self, _result) -> None:
        self.n += 1
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


@main.command("train-detector")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--steps", type=click.IntRange(1, 1_000_000), default=3000, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 512), default=8, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--lr", type=float, default=3e-3, show_default=True, help="Peak learning rate (one-cycle).")
@click.option(
    "--init", "init_path", type=click.Path(dir_okay=False, exists=True), help="Start from these weights."
)
@_user_errors
def train_detector_command(out, steps, batch_size, seed, lr, init_path):
    """Train the built-in BoxNet detector on generated videos (reproducible; CPU minutes).

    \b
    The shipped weights (tracker/detect/weights/boxnet.pt) were made in two stages:
      track train-detector stage1.pt
      track train-detector boxnet.pt --init stage1.pt --steps 2500 --lr 1e-3 --seed 1
    """
    from .detect.train_builtin import train

    def progress(step, loss):
        if step % 50 == 0 or step == steps - 1:
            click.echo(f"step {step + 1}/{steps}: loss {loss:.3f}", err=True)

    train(out, steps=steps, batch_size=batch_size, seed=seed, lr=lr, progress=progress, init=init_path)
    click.echo(f"wrote {out}")


@main.command("train-motion")
@click.argument("data", type=click.Path(path_type=str))
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default="motion_lstm.pt",
    show_default=True,
    help="Weights file (the shipped one is tracker/motion/weights/motion_lstm.pt).",
)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="PNG of the training curves.")
@click.option("--epochs", type=click.IntRange(1, 10_000), default=40, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--hidden", type=click.IntRange(4, 1024), default=64, show_default=True)
@click.option(
    "--synthetic-scenes",
    type=click.IntRange(0, 10_000),
    default=40,
    show_default=True,
    help="Synthetic scenes added to the KITTI trajectories.",
)
@click.option(
    "--val-every",
    type=click.IntRange(0, 1000),
    default=5,
    show_default=True,
    help="Every n-th KITTI sequence is held back for validation (0: none).",
)
@_user_errors
def train_motion_command(data, out, plot_path, epochs, seed, hidden, synthetic_scenes, val_every):
    """Train the LSTM motion model on the ground-truth trajectories of a KITTI folder (DATA with
    seqmap.txt and label_02/) plus synthetic scenes. Reproducible for a seed; CPU minutes.

    \b
    The shipped weights:
      track train-motion ../shared/data/kitti --out tracker/motion/weights/motion_lstm.pt \\
          --plot docs/motion_training.png
    """
    from .motion.train import TrainSettings, plot_curves, save_checkpoint, train_motion

    settings = TrainSettings(
        epochs=epochs, seed=seed, hidden=hidden, synthetic_scenes=synthetic_scenes, val_every=val_every
    )

    def progress(epoch, train_loss, val_loss):
        click.echo(f"epoch {epoch + 1}/{epochs}: train {train_loss:.4f}  validation {val_loss:.4f}", err=True)

    result = train_motion(data, settings, progress)
    save_checkpoint(result.model, out)
    if plot_path:
        plot_curves(result, plot_path)
    click.echo(
        f"validation ({', '.join(result.val_sequences) or 'synthetic'}): centre error 1 s ahead "
        f"{result.val_err_1s[-1]:.3f} box heights (constant velocity {result.cv_err_1s:.3f})"
    )
    click.echo(f"wrote {out}" + (f" and {plot_path}" if plot_path else ""))


def _horizons(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected frame counts like 1,5,10, got {text!r}") from None
    if not values or min(values) < 1:
        raise click.BadParameter(f"expected positive frame counts like 1,5,10, got {text!r}")
    return values


@main.command("eval-motion")
@click.argument("data", type=click.Path(path_type=str))
@click.option("--horizons", default="1,5,10", show_default=True, help="Frames ahead, comma separated.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the scores here.")
@click.option("--fps", type=float, default=10.0, show_default=True, help="Frame rate of the sequences.")
@click.option("--weights", type=click.Path(dir_okay=False, exists=True), help="LSTM weights to score.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config (Kalman noise).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
@_user_errors
def eval_motion_command(data, horizons, json_path, fps, weights, config_path, overrides):
    """Score the motion models' predictions on the ground-truth trajectories of a KITTI folder:
    centre error (pixels and box heights) and IoU, h frames ahead, from past boxes only."""
    from .eval.motion import evaluate_motion

    steps = _horizons(horizons)
    config = _load(config_path, overrides, "kitti")
    results = evaluate_motion(data, steps, fps, config.tracker.motion, weights)
    header = f"{'model':<8}{'frames':>7}{'err_px':>9}{'err_rel':>9}{'IoU':>7}{'samples':>9}"
    lines = [header, "-" * len(header)]
    for name, per in results.items():
        for h, v in per.items():
            lines.append(
                f"{name:<8}{h:>7}{v['center_err_px']:9.2f}{v['center_err_rel']:9.3f}{v['iou']:7.3f}{v['samples']:9d}"
            )
    click.echo("\n".join(lines))
    if json_path:
        keys = ("center_err_px", "center_err_rel", "iou")  # the documented form, nothing more
        plain = {m: {h: {k: v[k] for k in keys} for h, v in per.items()} for m, per in results.items()}
        write_lines_atomic(json_path, [json.dumps(plain, indent=2) + "\n"])
        click.echo(f"wrote {json_path}")


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
@click.option("--detector", "detector_spec", help="onnx:PATH, torchvision:NAME or builtin.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config file.")
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
    from .batch import BatchJob, expand_inputs, ray_available, run_batch

    if ray_address is not None and not ray_available():
        raise click.UsageError(
            "Ray is not installed: pip install 'driving-tracker[ray]' (or pip install ray)"
        )
    # One core per video by default (stages one after the other, one thread each): across
    # videos the work parallelises better than within one, and every video gets the same
    # thread counts, so outputs do not depend on --workers.
    per_video = threads or 1
    extra = [f"detector.threads={per_video}", "encoder.threads=1"]
    extra += ["run.threaded=false"] if per_video == 1 else []
    config = _video_config(config_path, overrides, detector_spec, *extra)
    videos = expand_inputs(inputs)
    job = BatchJob(diff_from_default(config), str(out_dir), not no_video, tracks_format, per_video)
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
@click.option("--detector", "detector_spec", help="onnx:PATH, torchvision:NAME or builtin.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config file.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
@click.option("--fps", type=float, help="Frame rate for sources without one (image folders).")
@click.option("--no-video", is_flag=True, help="Track files only.")
@_user_errors
def multi_command(sources, out_dir, detector_spec, config_path, overrides, fps, no_video):
    """Track several SOURCES (files, cameras, URLs) at once through one shared detector, which
    batches frames across them; each source gets its own tracks and outputs in --out-dir."""
    from .detect import detector_from_config
    from .multi import run_multi

    config = _video_config(config_path, overrides, detector_spec)
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


@main.command("synth")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--gt", "gt_path", type=click.Path(dir_okay=False), required=True, help="MOT ground truth.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--width", type=click.IntRange(320, 1280), default=640, show_default=True)
@click.option("--height", type=click.IntRange(240, 720), default=360, show_default=True)
@click.option("--fps", type=click.FloatRange(10, 30), default=15.0, show_default=True)
@click.option("--frames", type=click.IntRange(1, 100000), default=150, show_default=True)
@click.option("--objects", type=click.IntRange(1, 100), default=8, show_default=True, help="At most at once.")
@_user_errors
def synth_command(out, gt_path, seed, width, height, fps, frames, objects):
    """Generate a synthetic moving-box video with MOT ground truth (see tracker/eval/synthetic.py)."""
    from .eval.synthetic import SynthConfig, write_synthetic

    config = SynthConfig(
        width=width, height=height, fps=fps, num_frames=frames, max_objects=objects, seed=seed
    )
    write_synthetic(config, out, gt_path)
    click.echo(f"wrote {out} and {gt_path}")


if __name__ == "__main__":  # pragma: no cover
    main()
