"""The shipped KITTI configs are made by commands, not by hand: each file's header records the
``track calibrate`` and ``track tune`` runs that wrote it, and what they measured. These tests
re-run what is cheap to re-run: the calibration on the whole dev split, and the shipped
settings on a small subset of sequences, whose per-sequence HOTA the header recorded."""

import re
import shlex

import pytest
import yaml
from click.testing import CliRunner

from tests.conftest import ROOT, SHARED_KITTI
from tracker.cli import main
from tracker.config import load_config

pytestmark = pytest.mark.skipif(
    not (SHARED_KITTI / "seqmap.txt").is_file(),
    reason=f"KITTI dev split not found at {SHARED_KITTI} (../shared is not beside the project)",
)

CONFIGS = {"kitti.yaml": "det_pointrcnn", "kitti_rrc.yaml": "det_rrc"}
SUBSET = ("0000", "0017")  # short sequences, with cars and with pedestrians


def header(name: str) -> list[str]:
    lines = []
    for line in (ROOT / "configs" / name).read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[2:])
    return lines


def recorded(name: str, command: str) -> list[str]:
    line = next(h for h in header(name) if h.startswith(f"Written by `track {command}"))
    return shlex.split(line.split("`")[1])[2:]


def per_sequence_hota(name: str) -> dict[str, dict[str, float]]:
    out = {}
    for line in header(name):
        m = re.match(r"\s*(\w+) HOTA per sequence: (.*)", line)
        if m:
            out[m.group(1)] = {s: float(v) for s, v in (p.split() for p in m.group(2).split(", "))}
    return out


def subset(tmp_path, detections: str):
    root = tmp_path / "subset"
    (root / "label_02").mkdir(parents=True)
    lengths = dict(line.split()[::3] for line in (SHARED_KITTI / "seqmap.txt").read_text().splitlines())
    (root / "seqmap.txt").write_text("".join(f"{s} empty 000000 {lengths[s]}\n" for s in SUBSET))
    for seq in SUBSET:
        (root / "label_02" / f"{seq}.txt").symlink_to(SHARED_KITTI / "label_02" / f"{seq}.txt")
    for cls_dir in (SHARED_KITTI / detections).iterdir():
        (root / detections / cls_dir.name).mkdir(parents=True)
        for seq in SUBSET:
            (root / detections / cls_dir.name / f"{seq}.txt").symlink_to(cls_dir / f"{seq}.txt")
    return root


@pytest.mark.parametrize("name", CONFIGS)
def test_the_header_records_calibrate_and_tune_on_the_dev_split(name):
    calibrate, tune = recorded(name, "calibrate"), recorded(name, "tune")
    assert calibrate[0] == tune[0] == "../shared/data/kitti"  # the dev split, nothing held out
    assert calibrate[calibrate.index("--detections") + 1] == CONFIGS[name]
    assert tune[tune.index("--detections") + 1] == CONFIGS[name]
    # tune started from what calibrate wrote
    assert tune[tune.index("--config") + 1] == calibrate[calibrate.index("--out") + 1]


@pytest.mark.parametrize("name", CONFIGS)
def test_the_recorded_calibration_reproduces_the_score_maps(name, tmp_path):
    args = recorded(name, "calibrate")
    args[0] = str(SHARED_KITTI)
    args[args.index("--out") + 1] = str(tmp_path / "calibrated.yaml")
    if "--plot" in args:
        args[args.index("--plot") + 1] = str(tmp_path / "plots")
    result = CliRunner().invoke(main, ["calibrate", *args])
    assert result.exit_code == 0, result.output
    fresh = load_config(tmp_path / "calibrated.yaml").tracker
    shipped = load_config(ROOT / "configs" / name).tracker
    for cls in ("car", "pedestrian"):
        a, b = fresh.for_class(cls), shipped.for_class(cls)
        assert a.box_scale == b.box_scale
        assert a.score_map.raw == pytest.approx(b.score_map.raw, abs=1e-4)
        assert a.score_map.calibrated == pytest.approx(b.score_map.calibrated, abs=1e-3)


@pytest.mark.parametrize("name", CONFIGS)
def test_the_shipped_settings_reproduce_the_recorded_hota_on_a_subset(name, tmp_path):
    data = subset(tmp_path, CONFIGS[name])
    out = tmp_path / "metrics.json"
    args = ["eval", str(data), "--format", "kitti", "--detections", CONFIGS[name]]
    args += [
        "--config",
        str(ROOT / "configs" / name),
        "--results-out",
        str(tmp_path / "r"),
        "--json",
        str(out),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    import json

    sequences = json.loads(out.read_text())["sequences"]
    expected = per_sequence_hota(name)
    checked = 0
    for cls, per in expected.items():
        for seq in SUBSET:
            if seq in per:
                assert sequences[seq][cls]["HOTA"] == pytest.approx(per[seq], abs=0.05), (cls, seq)
                checked += 1
    assert checked >= 3


def test_the_kitti_preset_is_the_pointrcnn_config():
    from tracker.config import preset_path

    assert preset_path("kitti") == ROOT / "configs" / "kitti.yaml"
    assert yaml.safe_load((ROOT / "configs" / "kitti_rrc.yaml").read_text())["tracker"]["per_class"]
