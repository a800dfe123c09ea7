"""What the video commands (``track VIDEO``, ``detect``, ``batch``, ``multi``) share: the files
a run reads, the run summary line, signal handling, the one-line report of an early end, and
the progress bar."""

from __future__ import annotations

import contextlib
import signal
import sys

import click

from .common import USER_ERRORS


def inputs_of(source, config_path, config) -> list[str]:
    """The files a run reads, which no output may replace: the source, the config file, and
    the detector's detection file and weights."""
    found = [*([str(source)] if source is not None else []), *([config_path] if config_path else [])]
    kind = config.detector.kind
    found += [kind.split(":", 1)[1]] if kind.startswith(("file:", "onnx:")) else []
    return found + ([config.detector.weights] if config.detector.weights else [])


def refuse_out_dir(out_dir, inputs, outputs) -> None:
    """Before any work: no output in --out-dir is one of the ``inputs`` (click has checked
    that --out-dir is no file)."""
    from ..output_paths import refuse_inputs

    refuse_inputs(inputs, [("--out-dir", p) for pair in outputs for p in pair if p is not None])


def summary_line(summary) -> str:
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


def stage_rates(summary) -> str:
    return ", ".join(f"{k} {v:.0f}" for k, v in summary.stage_fps().items())


@contextlib.contextmanager
def signals_stop(pipeline):
    """SIGINT and SIGTERM end a run the same way: at the next frame boundary, outputs
    finalised, one message (exit codes 130 and 143). A second signal stops at once."""
    from ..pipeline import Terminated

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


def early_end(exc: BaseException, summary) -> None:
    """One line on stderr for a run that ended early, and its exit code."""
    from ..pipeline import Terminated

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


class Progress:
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
