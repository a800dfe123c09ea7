"""``track detect``: detections only, no tracking, written for ``--detector file:FILE``."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import replace_section
from .common import class_list, user_errors, video_config
from .video import Progress, inputs_of


@click.command("detect")
@click.argument("source")
@click.option(
    "--out", "out_path", required=True, type=click.Path(dir_okay=False), help=".jsonl or .txt (MOT det)."
)
@click.option("--detector", "detector_spec", help="Detector spec (default: the config's, yolox-nano).")
@click.option("--weights", help="Weights file for the detector (no lookup, no download).")
@click.option("--classes", help="Comma-separated class names to keep (default: road users).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Where the detector runs.")
@click.option("--fps", type=float, help="Frame rate for sources without one (image folders).")
@click.option(
    "--config", "config_path", help="YAML config file, or a shipped preset by name (track configs)."
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@user_errors
def detect_command(
    source, out_path, detector_spec, weights, classes, device, fps, config_path, overrides, overwrite
):
    """Detections only, no tracking: SOURCE (video, image folder in sorted name order, camera,
    URL) to FILE.jsonl ({"frame", "time_s", "class", "score", "xyxy"} per detection) or FILE.txt
    (MOT det). Track them later with --detector file:FILE."""
    from ..detect import detector_from_config
    from ..detect.files import detection_format, write_detections
    from ..output_paths import refuse_existing, refuse_inputs
    from ..source import open_source

    detection_format(out_path)
    out = Path(out_path)
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--out {out_path}: folder {out.parent} does not exist")
    extra = [f"detector.weights={weights}"] if weights else []
    extra += [f"detector.device={device}"] if device else []
    config = video_config(config_path, overrides, detector_spec, *extra)
    refuse_inputs(inputs_of(source, config_path, config), [("--out", out_path)])
    refuse_existing((out_path,), overwrite, "pass --overwrite to replace it")
    if classes:
        config = replace_section(config, "detector", classes=class_list(classes))
    stream = open_source(source, fps)
    detector = detector_from_config(config)
    bar = Progress(stream.num_frames)
    try:
        frames = write_detections(detector, stream, out, config.run.batch_size, lambda: bar.update(None))
    finally:
        bar.close()
    if frames == 0:
        out.unlink(missing_ok=True)
        raise ValueError(f"no frames could be decoded from {source}")
    click.echo(f"{frames} frames -> {out_path}", err=True)
