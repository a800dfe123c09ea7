import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT, pointrcnn_line
from tracker.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_eval_writes_results_json_and_prints_table(tiny_kitti, tmp_path):
    out, js = tmp_path / "res", tmp_path / "m.json"
    result = run(
        "eval",
        tiny_kitti,
        "--format",
        "kitti",
        "--detections",
        "det_pointrcnn",
        "--results-out",
        out,
        "--json",
        js,
    )
    assert result.exit_code == 0, result.output
    assert "HOTA" in result.stdout and "car" in result.stdout
    assert (out / "0000.txt").read_text().split("\n")[0].split()[2] == "Car"
    payload = json.loads(js.read_text())
    assert payload["metrics"]["car"]["HOTA"] > 90
    assert set(payload["metrics"]["car"]) >= {"HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW"}


def test_eval_set_and_config(tiny_kitti, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("tracker:\n  lifecycle:\n    min_hits: 1\n")
    result = run(
        "eval",
        tiny_kitti,
        "--results-out",
        tmp_path / "r",
        "--config",
        cfg,
        "--set",
        "tracker.lifecycle.max_lost_s=2",
    )
    assert result.exit_code == 0, result.output


def one_error_line(result):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_bad_detection_line_is_one_line_with_file_and_line(tiny_kitti, tmp_path):
    det = tiny_kitti / "det_pointrcnn" / "car" / "0000.txt"
    det.write_text(pointrcnn_line(0, 2, (1, 2, 30, 40), 1.0) + "0,2,1,2,30\n")
    line = one_error_line(run("eval", tiny_kitti, "--results-out", tmp_path / "r"))
    assert "0000.txt:2:" in line


@pytest.mark.parametrize("bad", ["0,2,1,2,30,40,nan,1,1,1,0,0,0,0,0", "0,2,30,2,1,40,5,1,1,1,0,0,0,0,0"])
def test_nan_and_negative_size(tiny_kitti, tmp_path, bad):
    (tiny_kitti / "det_pointrcnn" / "car" / "0000.txt").write_text(bad + "\n")
    assert "0000.txt:1:" in one_error_line(run("eval", tiny_kitti, "--results-out", tmp_path / "r"))


def test_bad_label_line(tiny_kitti, tmp_path):
    with (tiny_kitti / "label_02" / "0000.txt").open("a") as fh:
        fh.write("3 1 Car 0 0\n")
    result = run("eval", tiny_kitti, "--results-out", tmp_path / "r")
    assert "label_02/0000.txt" in one_error_line(result)


def test_missing_dataset_seqmap_and_unknown_key(tiny_kitti, tmp_path):
    assert "dataset folder not found" in one_error_line(
        run("eval", tmp_path / "none", "--results-out", tmp_path / "r")
    )
    assert "unknown config key 'tracker.nope'" in one_error_line(
        run("eval", tiny_kitti, "--results-out", tmp_path / "r", "--set", "tracker.nope=1")
    )
    (tiny_kitti / "seqmap.txt").unlink()
    assert "seqmap not found" in one_error_line(run("eval", tiny_kitti, "--results-out", tmp_path / "r"))


def test_failed_run_leaves_existing_results_untouched(tiny_kitti, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "0000.txt").write_text("previous\n")
    (tiny_kitti / "det_pointrcnn" / "car" / "0000.txt").write_text("garbage\n")
    one_error_line(run("eval", tiny_kitti, "--results-out", out))
    assert (out / "0000.txt").read_text() == "previous\n"
    assert sorted(p.name for p in out.iterdir()) == ["0000.txt"]


def test_real_process_exit_code_and_stderr(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tracker.cli",
            "eval",
            str(tmp_path / "missing"),
            "--results-out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: dataset folder not found: {tmp_path / 'missing'}"]


def test_tune_writes_a_loadable_config(tiny_kitti, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("lifecycle.min_hits: [1, 2]\nassociation.max_cost: [0.5, 0.7]\n")
    out = tmp_path / "best.yaml"
    result = run(
        "tune", tiny_kitti, "--trials", 3, "--classes", "car", "--workers", 1, "--space", space, "--out", out
    )
    assert result.exit_code == 0, result.output
    assert "leave-one-sequence-out" in result.stdout
    from tracker.config import load_config

    load_config(out)
    header = [line for line in out.read_text().splitlines() if line.startswith("#")]
    assert header[0].startswith("# Written by `track tune ") and "--trials 3" in header[0]
    stages = [line.split(":")[0].strip("# ") for line in header[1:] if "objective" in line]
    assert stages == ["shared", "car", "car refine"]
    assert any(line.startswith("#   car HOTA per sequence: 0000 ") for line in header)
