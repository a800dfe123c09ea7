"""``track eval``, ``track tune``, ``track calibrate`` and ``track eval-motion``: parse, call
``tracker.eval``, print."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..config import Config, load_config
from ..formats import write_lines_atomic
from ..output_paths import refuse_inputs
from .common import (
    DET_FORMAT_OPTION,
    class_list,
    command_line,
    dataset_options,
    load_preset,
    user_errors,
    video_config,
)


@click.command("eval")
@dataset_options
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
@click.option(
    "--detector", "detector_spec", help="DATA is a (synthetic) video: the detector (default: builtin)."
)
@user_errors
def eval_command(
    data,
    fmt,
    detections,
    det_format,
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
    from ..eval.report import evaluate_dataset

    if Path(data).is_file():
        _eval_video(data, gt_path, detector_spec, config_path, overrides, results_out, json_path)
        return
    config = load_preset(config_path, overrides, fmt)
    report = evaluate_dataset(data, fmt, config, results_out, detections, fps, interpolate_gaps, det_format)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    rows = [("ALL", cls, m) for cls, m in report.metrics["COMBINED"].items()]
    if per_sequence:
        per = report.metrics.items()
        rows += [(seq, cls, m) for seq, by_cls in per if seq != "COMBINED" for cls, m in by_cls.items()]
    if interpolate_gaps:
        click.echo(f"offline: gaps of up to {interpolate_gaps} frames filled by interpolation")
    click.echo(metrics_table(rows))
    sequences = len(report.dataset.sequences)
    click.echo(f"{sequences} sequences, {report.frames} frames, tracker {report.tracker_fps:.0f} frames/s")
    if json_path:
        write_lines_atomic(json_path, [json.dumps(report.as_json(), indent=2), "\n"])


def _eval_video(video, gt_path, detector_spec, config_path, overrides, results_out, json_path) -> None:
    from ..eval.report import video_report_json
    from ..eval.video import evaluate_videos

    if not gt_path:
        raise click.UsageError("DATA is a video: give its MOT ground truth with --gt")
    config = video_config(config_path, overrides, detector_spec or "builtin")
    metrics, summaries = evaluate_videos([(Path(video), Path(gt_path))], config, results_out)
    click.echo(metrics_table([("ALL", cls, m) for cls, m in metrics["COMBINED"].items()]))
    click.echo(f"{summaries[0].frames} frames, pipeline {summaries[0].fps:.1f} frames/s")
    if json_path:
        write_lines_atomic(json_path, [json.dumps(video_report_json(video, metrics), indent=2), "\n"])


def metrics_table(rows) -> str:
    """One line per (sequence, class, metrics) row: HOTA, DetA, AssA, MOTA, IDF1, IDSW."""
    header = (
        f"{'sequence':<10}{'class':<12}{'HOTA':>7}{'DetA':>7}{'AssA':>7}{'MOTA':>8}{'IDF1':>7}{'IDSW':>6}"
    )
    lines = [header, "-" * len(header)]
    for seq, cls, m in rows:
        lines.append(
            f"{seq:<10}{cls:<12}{m.HOTA:7.2f}{m.DetA:7.2f}{m.AssA:7.2f}{m.MOTA:8.2f}{m.IDF1:7.2f}{m.IDSW:6d}"
        )
    return "\n".join(lines)


@click.command("tune")
@dataset_options
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
@user_errors
def tune_command(
    data,
    fmt,
    detections,
    det_format,
    config_path,
    overrides,
    fps,
    out_path,
    trials,
    classes,
    seed,
    workers,
    space_path,
):
    """Random search of tracker settings on a dataset; writes the best config.

    Shared settings first, then each class's own (random draws, then a coordinate pass). A
    trial is judged by the mean over the classes of the HOTA of each sequence, weighted by the
    square root of its true boxes. A stage's best is kept only when its leave-one-sequence-out
    estimate beats the stage's start. Tune on a development split only, and judge the result
    on held-out sequences.
    """
    from ..eval.report import load_dataset
    from ..eval.tune import load_space, tune, tuned_header, write_config

    config = load_preset(config_path, overrides, fmt)
    dataset = load_dataset(data, fmt, detections, fps, det_format)
    space = load_space(space_path) if space_path else None
    classes = class_list(classes) if fmt == "kitti" else None

    def progress(stage, i, trial):
        hota = ", ".join(f"{c} {v:.2f}" for c, v in trial.hota.items())
        click.echo(f"{stage} trial {i + 1}: objective {trial.objective():.2f} (HOTA {hota})", err=True)

    best, results = tune(dataset, config, classes, trials, seed, space, workers, progress)
    for r in results:
        params = r.best.params or ""
        click.echo(f"{r.summary()} {params if r.kept or not params else f'(rejected: {params})'}")
    write_config(out_path, best, header=tuned_header(command_line("tune"), results, config_path))
    click.echo(f"wrote {out_path}")


@click.command("calibrate")
@click.argument("data", type=click.Path(path_type=str))
@click.option("--format", "fmt", type=click.Choice(["kitti", "mot"]), default="kitti", show_default=True)
@click.option("--detections", default="det_pointrcnn", show_default=True, help="KITTI detection folder.")
@DET_FORMAT_OPTION
@click.option(
    "--classes", default="car,pedestrian,cyclist", show_default=True, help="KITTI classes to measure."
)
@click.option(
    "--min-iou",
    type=click.FloatRange(0.05, 0.95),
    default=0.3,
    show_default=True,
    help="IoU to pair boxes when measuring their size (scores are judged at IoU 0.5, as TrackEval counts).",
)
@click.option(
    "--method",
    type=click.Choice(["auto", "isotonic", "logistic"]),
    default="auto",
    show_default=True,
    help="Score map: auto keeps the one that predicts unseen sequences best (Brier score).",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    help="Write a config with each class's box_scale and score_map (a start for track tune).",
)
@click.option("--config", "config_path", help="Config the written one starts from (default: the defaults).")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False), help="Reliability plots (PNG) here.")
@user_errors
def calibrate_command(
    data, fmt, detections, det_format, classes, min_iou, method, out_path, config_path, plot_dir
):
    """Measure a detector against ground truth, per class: how much wider or taller its boxes
    are than the true ones (per sequence; box_scale undoes a bias found on every sequence), and
    how its score relates to precision (a monotone score map, so that the tracker's thresholds
    mean the same for every detector). Run it on a development split only."""
    from ..eval.calibrate import SCORE_MAP_METHODS, calibrate_detector, calibrated_config
    from ..eval.report import load_dataset
    from ..eval.tune import write_config

    dataset = load_dataset(data, fmt, detections, None, det_format)
    if out_path:
        refuse_inputs([*dataset.inputs, *([config_path] if config_path else [])], [("--out", out_path)])
    classes = class_list(classes) if fmt == "kitti" else ("pedestrian",)
    methods = SCORE_MAP_METHODS if method == "auto" else (method,)
    measured = calibrate_detector(dataset, classes, methods, min_iou)
    for cls, cal in measured.items():
        if cal is None:
            click.echo(f"{cls}: no {cls} detection matches a true box; nothing to measure")
        else:
            click.echo(_calibration_text(cal))
    found = [c for c in measured.values() if c is not None]
    if not found:
        raise ValueError(f"no detection of {', '.join(classes)} matches a true box; nothing written")
    if plot_dir:
        from ..eval.plots import write_reliability_plots

        scored = [c.scores for c in found if c.scores is not None]
        for path in write_reliability_plots(scored, detections if fmt == "kitti" else "mot", plot_dir):
            click.echo(f"wrote {path}")
    if out_path:
        base = load_config(config_path) if config_path else Config()
        fps = dataset.sequences[0].fps if fmt == "kitti" and dataset.sequences else None
        config = calibrated_config(base, found, fps)
        write_config(out_path, config, header=f"Written by `{command_line('calibrate')}`")
        click.echo(f"wrote {out_path}")


def _calibration_text(cal) -> str:
    bias, lines = cal.bias, []
    lines.append(
        f"{cal.cls}: {bias.pairs} pairs, median log(detected / true) width {bias.log_width:+.3f}, "
        f"height {bias.log_height:+.3f}"
    )
    for name, (n, lw, lh) in bias.per_sequence.items():
        lines.append(f"    {name}: {n:5d} pairs  width {lw:+.3f}  height {lh:+.3f}")
    width, height = bias.suggested_box_scale
    lines.append(f"    -> tracker.per_class.{cal.cls}.box_scale: [{width}, {height}]")
    if cal.scores is None:
        lines.append("    scores: every judged detection has the same score: no score map")
        return "\n".join(lines)
    samples, score_map = cal.scores.samples, cal.scores.score_map
    brier = ", ".join(f"{m} {v:.4f}" for m, v in cal.scores.brier.items())
    lines.append(
        f"    scores: {len(samples)} judged detections (matched at IoU 0.5), precision "
        f"{samples.hit.mean():.3f}; Brier score on unseen sequences: {brier} -> {score_map.method}"
    )
    knots = ", ".join(f"{r:g}:{c:.2f}" for r, c in zip(score_map.raw, score_map.calibrated, strict=True))
    lines.append(f"    -> tracker.per_class.{cal.cls}.score_map (raw:calibrated): {knots}")
    return "\n".join(lines)


def _horizons(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected frame counts like 1,5,10, got {text!r}") from None
    if not values or min(values) < 1:
        raise click.BadParameter(f"expected positive frame counts like 1,5,10, got {text!r}")
    return values


@click.command("eval-motion")
@click.argument("data", type=click.Path(path_type=str))
@click.option("--horizons", default="1,5,10", show_default=True, help="Frames ahead, comma separated.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the scores here.")
@click.option("--fps", type=float, default=10.0, show_default=True, help="Frame rate of the sequences.")
@click.option("--weights", type=click.Path(dir_okay=False, exists=True), help="LSTM weights to score.")
@click.option(
    "--detections",
    metavar="FOLDER",
    help="Histories from this detection folder of DATA, matched to the ground truth (the tracker's inputs).",
)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config (Kalman noise).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
@user_errors
def eval_motion_command(data, horizons, json_path, fps, weights, detections, config_path, overrides):
    """Score the motion models' predictions on the ground-truth trajectories of a KITTI folder:
    centre error (pixels and box heights) and IoU, h frames ahead, from past boxes only; over
    all tracks and per class (car, pedestrian, cyclist). 1sigma: the share of true box
    coordinates within the model's own predicted 1-sigma spread (0.683 = calibrated). With
    --detections the models read a detector's boxes matched to each ground-truth track."""
    from ..eval.motion import evaluate_motion, scores_json

    steps = _horizons(horizons)
    config = load_preset(config_path, overrides, "kitti")
    results = evaluate_motion(data, steps, fps, config.tracker.motion, weights, detections)
    header = (
        f"{'model':<8}{'class':<12}{'frames':>7}{'err_px':>9}{'err_rel':>9}{'IoU':>7}{'1sigma':>8}"
        f"{'samples':>9}"
    )
    lines = [header, "-" * len(header)]
    for name, per in results.items():
        for h, v in per.items():
            for cls, s in [("all", v), *v["per_class"].items()]:
                cover = f"{s['coverage_1sigma']:8.3f}" if "coverage_1sigma" in s else f"{'-':>8}"
                lines.append(
                    f"{name:<8}{cls:<12}{h:>7}{s['center_err_px']:9.2f}{s['center_err_rel']:9.3f}"
                    f"{s['iou']:7.3f}{cover}{s['samples']:9d}"
                )
    click.echo("\n".join(lines))
    if json_path:
        write_lines_atomic(json_path, [json.dumps(scores_json(results), indent=2) + "\n"])
        click.echo(f"wrote {json_path}")
