"""The video commands end to end: one-line errors, synth + run, eval on a video, rates, presets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from tracker.cli import main
from tracker.eval.synthetic import SynthConfig, write_synthetic
from tracker.formats import read_mot
from tracker.source import open_source

SHARED = ROOT.parent / "shared"
YOLOX = SHARED / "models" / "yolox_nano.onnx"
HIGHWAY = SHARED / "data" / "real" / "highway_720p.mp4"


@pytest.mark.skipif(
    not (YOLOX.is_file() and HIGHWAY.is_file()), reason="../shared model or highway clip missing"
)
def test_cli_on_real_highway_keeps_two_ids(tmp_path):
    out, tracks = tmp_path / "x.mp4", tmp_path / "t.jsonl"
    result = CliRunner().invoke(
        main, [str(HIGHWAY), "--detector", f"onnx:{YOLOX}", "--out", str(out), "--tracks-out", str(tracks)]
    )
    assert result.exit_code == 0, result.output
    assert len(list(open_source(out))) == 38
    records = [json.loads(line) for line in tracks.read_text().splitlines()]
    assert {r["id"] for r in records} == {1, 2}
    assert {r["class"] for r in records} == {"car"}


def one_error_line(args, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "tracker.cli", *map(str, args)], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def test_bad_inputs_one_line_exit_2_no_output(tmp_path, clip):
    video, gt = clip
    out = tmp_path / "o.mp4"
    det = ["--detector", f"file:{gt}"]
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("hello")
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(video.read_bytes()[:2000])
    (tmp_path / "folder").mkdir()
    cases = [
        ([tmp_path / "missing.mp4", *det, "--out", out], "input not found"),
        ([tmp_path / "folder", *det, "--out", out, "--fps", "10"], "no images"),
        ([empty, *det, "--out", out], "empty"),
        ([not_video, *det, "--out", out], "not a readable video"),
        ([video, "--detector", "yolo9000", "--out", out], "unknown detector"),
        ([video, "--detector", "torchvision:fcos_resnet50_fpn", "--out", out], "--weights FILE"),
        (["9", *det, "--out", out], "cannot open camera 9"),
    ]
    for args, message in cases:
        assert message in one_error_line(args, tmp_path), args
        assert not out.exists()
    # a truncated file: processed to where it breaks, or refused; never a traceback
    proc = subprocess.run(
        [sys.executable, "-m", "tracker.cli", str(truncated), *det, "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode in (0, 2) and "Traceback" not in proc.stderr


def test_cli_synth_and_run_end_to_end(tmp_path):
    runner = CliRunner()
    video, gt = tmp_path / "s.mp4", tmp_path / "s_gt.txt"
    assert (
        runner.invoke(main, ["synth", str(video), "--gt", str(gt), "--seed", "4", "--frames", "30"]).exit_code
        == 0
    )
    out, tracks = tmp_path / "a.mp4", tmp_path / "a.txt"
    result = runner.invoke(
        main, [str(video), "--detector", f"file:{gt}", "--out", str(out), "--tracks-out", str(tracks)]
    )
    assert result.exit_code == 0, result.output
    assert len(list(open_source(out))) == 30
    assert read_mot(tracks, "results").frame.max() <= 29
    again = runner.invoke(main, [str(video), "--detector", f"file:{gt}", "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.stderr


def test_eval_accepts_a_video_with_mot_ground_truth(clip, tmp_path):
    video, gt = clip
    result = CliRunner().invoke(
        main,
        [
            "eval",
            str(video),
            "--gt",
            str(gt),
            "--detector",
            f"file:{gt}",
            "--results-out",
            str(tmp_path / "r"),
            "--json",
            str(tmp_path / "m.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m.json").read_text())["metrics"]["object"]["HOTA"] > 80
    assert "pedestrian" not in result.output
    missing = CliRunner().invoke(main, ["eval", str(video), "--results-out", str(tmp_path / "r")])
    assert missing.exit_code == 2


def test_output_video_keeps_the_source_frame_rate(tmp_path):
    video, gt = tmp_path / "v.mp4", tmp_path / "g.txt"
    write_synthetic(SynthConfig(width=320, height=240, fps=25, num_frames=10, seed=2), video, gt)
    out = tmp_path / "o.mp4"
    result = CliRunner().invoke(main, [str(video), "--detector", f"file:{gt}", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert open_source(out).fps == pytest.approx(25.0)


def test_run_without_config_uses_the_shipped_default_preset(monkeypatch, tmp_path):
    import tracker.commands.common as common

    seen = {}
    real = common.load_config

    def spy(path=None, overrides=()):
        seen["path"] = path
        return real(path, overrides)

    monkeypatch.setattr(common, "load_config", spy)
    CliRunner().invoke(main, [str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o.mp4")])
    assert Path(seen["path"]).name == "default.yaml"
