"""Issue 15: the command line guesses nothing. A mistyped sub-command is named as one; an
image folder without a frame rate is refused rather than run at an assumed 30 frames/s. Each
case runs the real ``track`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.trackcmd import track


@pytest.mark.parametrize(
    ("typed", "suggestion"),
    [
        ("tarck", "'run'"),
        ("bach", "'batch'"),
        ("evl", "'eval'"),
        ("detcet", "'detect'"),
        ("mutli", "'multi'"),
    ],
)
def test_a_mistyped_command_is_named_with_the_nearest(tmp_path, typed, suggestion):
    proc = track(typed, "video.mp4", cwd=tmp_path)
    assert proc.returncode == 2
    assert f"No such command '{typed}'. Did you mean {suggestion}" in proc.stderr
    assert "unexpected extra argument" not in proc.stderr


def test_an_unknown_word_before_a_video_is_no_such_command(tmp_path):
    proc = track("frobnicate", "video.mp4", cwd=tmp_path)
    assert proc.returncode == 2
    assert "No such command 'frobnicate'" in proc.stderr and "Commands: " in proc.stderr


def test_a_file_named_like_a_command_is_still_tracked(clip, tmp_path):
    """``track VIDEO`` means ``track run VIDEO``: a file that exists is a source, even one
    whose name is close to a command's."""
    (tmp_path / "bach").symlink_to(clip[0])
    proc = track("bach", "--detector", "builtin", "--tracks-out", "t.jsonl", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "t.jsonl").stat().st_size > 0


def _image_folder(path, n=3):
    import cv2

    path.mkdir()
    for i in range(n):
        cv2.imwrite(str(path / f"{i:04d}.png"), np.full((64, 96, 3), 40 * i, np.uint8))
    return path


def test_an_image_folder_needs_a_frame_rate(tmp_path):
    folder = _image_folder(tmp_path / "frames")
    for command in ([], ["detect"]):
        out = "t.jsonl"
        proc = track(*command, folder, "--detector", "builtin", "--out" if command else "--tracks-out", out)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "--fps" in lines[0] and str(folder) in lines[0], lines
        assert "30" not in lines[0].replace(str(folder), "")  # no default rate named (the path may hold 30)


def test_an_image_folder_runs_at_the_given_rate(tmp_path):
    folder = _image_folder(tmp_path / "frames", n=4)
    out = tmp_path / "d.jsonl"
    proc = track("detect", folder, "--detector", "builtin", "--fps", "4", "--out", out)
    assert proc.returncode == 0, proc.stderr
    proc = track(folder, "--detector", f"file:{out}", "--fps", "4", "--tracks-out", tmp_path / "t.jsonl")
    assert proc.returncode == 0, proc.stderr
    times = [json.loads(line)["time_s"] for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert all(t in (0.0, 0.25, 0.5, 0.75) for t in times)


def test_classes_the_detector_cannot_keep_fail(clip, tmp_path):
    proc = track(
        clip[0], "--detector", "builtin", "--classes", "car", "--tracks-out", "t.jsonl", cwd=tmp_path
    )
    assert proc.returncode == 2, proc.stderr
    assert "car" in proc.stderr and "box" in proc.stderr
    assert not (tmp_path / "t.jsonl").exists()
