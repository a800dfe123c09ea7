"""Issue 15: shipped presets by name from any working directory, and no silent no-ops in
``--set`` (what the user typed last wins; errors name the key as typed)."""

from __future__ import annotations

import pytest

from tests.trackcmd import track
from tracker.config import ConfigError, load_config, preset_names, preset_path
from tracker.pipeline import Pipeline


def test_presets_by_name():
    assert {"default", "kitti"} <= set(preset_names())
    assert load_config("kitti") == load_config(preset_path("kitti"))
    assert load_config("kitti") != load_config("default")
    with pytest.raises(FileNotFoundError, match="no shipped config named 'kitty'.*default, kitti"):
        load_config("kitty")


def test_pipeline_from_a_preset_name(clip):
    from tests.fakes import TruthDetector

    with Pipeline.from_config("default", ["tracker.lifecycle.min_hits=4"], TruthDetector(clip[1])) as pipe:
        assert pipe.config.tracker.lifecycle.min_hits == 4


def test_a_file_wins_over_a_preset_of_the_same_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kitti").write_text("tracker:\n  frame_rate: 7\n")
    assert load_config("kitti").tracker.frame_rate == 7


def test_track_configs_lists_them_and_config_kitti_runs_from_anywhere(tmp_path):
    proc = track("configs", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert {line.split()[0] for line in proc.stdout.splitlines()} >= {"default", "kitti"}
    proc = track("nothere.mp4", "--config", "kitti", "--tracks-out", "t.txt", cwd=tmp_path)
    assert proc.returncode == 2 and "input not found: nothere.mp4" in proc.stderr, proc.stderr
    proc = track("nothere.mp4", "--config", "kitty", "--tracks-out", "t.txt", cwd=tmp_path)
    assert proc.returncode == 2 and "no shipped config named 'kitty'" in proc.stderr, proc.stderr


def test_a_global_set_reaches_the_per_class_sections():
    """The default preset gives the built-in detector's class ``box`` its own min_hits; a
    ``--set`` of the global key typed after it wins there too, and a later per-class one wins
    over that."""
    config = load_config("default", ["tracker.lifecycle.min_hits=3"])
    assert config.tracker.lifecycle.min_hits == 3
    assert config.tracker.per_class["box"].lifecycle.min_hits == 3
    assert config.tracker.per_class["box"].lifecycle.high_score == 0.5  # the rest stays
    config = load_config(
        "default", ["tracker.lifecycle.min_hits=3", "tracker.per_class.box.lifecycle.min_hits=2"]
    )
    assert config.tracker.per_class["box"].lifecycle.min_hits == 2


@pytest.mark.parametrize("value", ["-1", "abc"])
def test_errors_name_the_key_as_typed(value):
    key = "tracker.lifecycle.max_lost_s"
    with pytest.raises(ConfigError, match=f"^{key}: "):
        load_config("default", [f"{key}={value}"])


def test_the_command_line_applies_a_global_set_to_the_builtin_class(tmp_path, clip):
    """End to end: min_hits=1000 on the command line leaves the built-in detector's boxes
    without a single confirmed track (today's default for them is 1)."""
    proc = track(clip[0], "--detector", "builtin", "--set", "tracker.lifecycle.min_hits=1000",
                 "--tracks-out", "t.jsonl", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "t.jsonl").read_text() == ""
