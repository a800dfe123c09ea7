"""``track train-detector``, ``track train-motion`` and ``track synth``: parse, call the
trainers and the generator, print."""

from __future__ import annotations

import click

from .common import user_errors


@click.command("train-detector")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--steps", type=click.IntRange(1, 1_000_000), default=3000, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 512), default=8, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--lr", type=float, default=3e-3, show_default=True, help="Peak learning rate (one-cycle).")
@click.option(
    "--init", "init_path", type=click.Path(dir_okay=False, exists=True), help="Start from these weights."
)
@user_errors
def train_detector_command(out, steps, batch_size, seed, lr, init_path):
    """Train the built-in BoxNet detector on generated videos (reproducible; CPU minutes).

    \b
    The shipped weights (tracker/detect/weights/boxnet.pt) were made in two stages:
      track train-detector stage1.pt
      track train-detector boxnet.pt --init stage1.pt --steps 2500 --lr 1e-3 --seed 1
    """
    from ..training.detector import train

    def progress(step, loss):
        if step % 50 == 0 or step == steps - 1:
            click.echo(f"step {step + 1}/{steps}: loss {loss:.3f}", err=True)

    train(out, steps=steps, batch_size=batch_size, seed=seed, lr=lr, progress=progress, init=init_path)
    click.echo(f"wrote {out}")


@click.command("train-motion")
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
@click.option(
    "--detections",
    multiple=True,
    metavar="FOLDER",
    help="Also train on this detection folder of DATA: its boxes matched to each training track "
    "(real detector noise), with the ground truth as the future. Repeatable.",
)
@click.option(
    "--thin-every",
    type=click.IntRange(2, 10),
    multiple=True,
    help="Also train on the tracks thinned to every n-th frame (a slower camera). Repeatable.",
)
@click.option(
    "--val-sequences",
    default="",
    metavar="S1,S2,...",
    help="Hold back these KITTI sequences for validation instead of every --val-every-th.",
)
@click.option(
    "--rare-class-repeat",
    type=click.IntRange(1, 100),
    default=1,
    show_default=True,
    help="Pedestrian and cyclist samples are seen this many times an epoch.",
)
@click.option(
    "--driving-scenes",
    type=click.IntRange(0, 10_000),
    default=0,
    show_default=True,
    help="Also train on this many synthetic 3D driving scenes (road users seen by a moving camera).",
)
@user_errors
def train_motion_command(
    data,
    out,
    plot_path,
    epochs,
    seed,
    hidden,
    synthetic_scenes,
    val_every,
    detections,
    thin_every,
    val_sequences,
    rare_class_repeat,
    driving_scenes,
):
    """Train the LSTM motion model on the ground-truth trajectories of a KITTI folder (DATA with
    seqmap.txt and label_02/) plus synthetic scenes. Reproducible for a seed; CPU minutes.

    \b
    The shipped weights:
      track train-motion ../shared/data/kitti --detections det_pointrcnn --detections det_rrc \\
          --thin-every 2 --driving-scenes 80 --val-sequences 0005,0017,0020 \\
          --out tracker/motion/weights/motion_lstm.pt --plot docs/motion_training.png
    """
    from ..training.motion import TrainSettings, plot_curves, save_checkpoint, train_motion

    settings = TrainSettings(
        epochs=epochs,
        seed=seed,
        hidden=hidden,
        synthetic_scenes=synthetic_scenes,
        val_every=val_every,
        detections=tuple(detections),
        thin_every=tuple(thin_every),
        val_sequences=tuple(v.strip() for v in val_sequences.split(",") if v.strip()),
        rare_class_repeat=rare_class_repeat,
        driving_scenes=driving_scenes,
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
        + (
            f"; spread covers {result.raw_coverage:.3f} of the held-back "
            f"{'matched detections' if settings.detections and result.val_sequences else 'noisy tracks'}"
            f" before calibration, {result.calibrated_coverage:.3f} after (0.683 = calibrated; "
            f"factors per step {', '.join(f'{x:.2f}' for x in result.spread_scale)})"
            if result.val_coverage
            else ""
        )
    )
    if result.head_share:
        from ..motion.trajectories import MOTION_CLASSES

        shares = ", ".join(f"{c} {x:.1f}" for c, x in zip(MOTION_CLASSES, result.head_share, strict=False))
        click.echo(f"share of the head's correction kept per class (held-back tracks): {shares}")
    click.echo(f"wrote {out}" + (f" and {plot_path}" if plot_path else ""))


@click.command("synth")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--gt", "gt_path", type=click.Path(dir_okay=False), required=True, help="MOT ground truth.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--width", type=click.IntRange(320, 1280), default=640, show_default=True)
@click.option("--height", type=click.IntRange(240, 720), default=360, show_default=True)
@click.option("--fps", type=click.FloatRange(10, 30), default=15.0, show_default=True)
@click.option("--frames", type=click.IntRange(1, 100000), default=150, show_default=True)
@click.option("--objects", type=click.IntRange(1, 100), default=8, show_default=True, help="At most at once.")
@user_errors
def synth_command(out, gt_path, seed, width, height, fps, frames, objects):
    """Generate a synthetic moving-box video with MOT ground truth (see tracker/eval/synthetic.py)."""
    from ..eval.synthetic import SynthConfig, write_synthetic

    config = SynthConfig(
        width=width, height=height, fps=fps, num_frames=frames, max_objects=objects, seed=seed
    )
    write_synthetic(config, out, gt_path)
    click.echo(f"wrote {out} and {gt_path}")
