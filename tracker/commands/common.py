"""What the ``track`` commands share: user errors as one line and exit code 2, the config a
command runs with, and the dataset options."""

from __future__ import annotations

import functools
import shlex
import sys

import click

from ..config import Config, ConfigError, load_config, preset_path
from ..formats import FormatError

USER_ERRORS = (ConfigError, FormatError, FileNotFoundError, FileExistsError, NotADirectoryError, ValueError)


def user_errors(func):
    """Errors in what the user gave end as one line on stderr and exit code 2; Ctrl-C as 130;
    anything else as one line and 1, never a traceback."""

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


def load_preset(config_path: str | None, overrides: tuple[str, ...], fmt: str) -> Config:
    """``--config`` (default: the shipped preset for the dataset format) and ``--set``."""
    path = config_path if config_path is not None else preset_path("kitti" if fmt == "kitti" else "default")
    return load_config(path, list(overrides))


def video_config(config_path: str | None, overrides, detector_spec: str | None = None, *more: str) -> Config:
    """The config of a video command: ``--config`` (a file or a preset name; default: the
    ``default`` preset), ``--set`` overrides, ``--detector`` and the command's own settings
    (``more``), in that order."""
    extra = [*overrides, *([f"detector.kind={detector_spec}"] if detector_spec else []), *more]
    return load_config(config_path or preset_path("default"), extra)


def command_line(name: str) -> str:
    """The command as typed (``track NAME ...``), for the header of a file it writes; when not
    run as ``track`` (``python -m tracker.cli``), from the arguments after NAME; else (tests,
    the Python API) rebuilt from the parsed parameters, options by their flags."""
    argv = sys.argv
    if len(argv) > 1 and argv[1] == name:
        return "track " + " ".join(shlex.quote(a) for a in argv[1:])
    ctx = click.get_current_context()
    arguments, options = [], []
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if isinstance(param, click.Argument):
            arguments.append(str(value))
        elif value not in (None, False, ()) and value != param.default:
            for item in value if isinstance(value, tuple) else (value,):
                options += [param.opts[0]] if item is True else [param.opts[0], str(item)]
    return "track " + " ".join(shlex.quote(w) for w in [name, *arguments, *options])


def class_list(classes: str) -> tuple[str, ...]:
    """``--classes car,pedestrian`` -> ("car", "pedestrian")."""
    return tuple(c.strip() for c in classes.split(",") if c.strip())


DET_FORMAT_OPTION = click.option(
    "--det-format",
    type=click.Choice(["auto", "pointrcnn", "rrc", "mot", "jsonl"]),
    default="auto",
    show_default=True,
    help="KITTI detection files: PointRCNN (15 columns), frame,x1,y1,x2,y2,score (rrc), MOT det "
    "lines, or track detect's JSON Lines; auto tells them apart by their columns.",
)

_DATASET_OPTIONS = [
    click.argument("data", type=click.Path(path_type=str)),
    click.option("--format", "fmt", type=click.Choice(["kitti", "mot"]), default="kitti", show_default=True),
    click.option(
        "--detections",
        default="det_pointrcnn",
        show_default=True,
        help="KITTI: sub-folder of DATA with {car,pedestrian,cyclist}/SSSS.txt or SSSS.jsonl detections.",
    ),
    DET_FORMAT_OPTION,
    click.option(
        "--config", "config_path", help="YAML config file, or a shipped preset by name (track configs)."
    ),
    click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key."),
    click.option("--fps", type=float, help="Frame rate of the sequences (KITTI: 10; MOT: seqinfo.ini)."),
]


def dataset_options(func):
    """DATA, --format, --detections, --det-format, --config, --set and --fps."""
    for decorator in reversed(_DATASET_OPTIONS):
        func = decorator(func)
    return func
