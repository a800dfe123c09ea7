"""Issue 15: no output ever replaces an input, and every output is checked (folder,
extension) before any work starts, naming the path as the user gave it. Each case runs the
real ``track`` command; the input's sha256 is the same afterwards."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.trackcmd import sha256, track
from tracker.batch import BatchJob, video_outputs
from tracker.multi import output_paths
from tracker.output_paths import check_outputs


@pytest.fixture
def video(clip, tmp_path) -> Path:
    """A copy of the synthetic clip, its MOT truth beside it as clip.txt."""
    path = tmp_path / "in.mp4"
    shutil.copy(clip[0], path)
    shutil.copy(clip[1], tmp_path / "clip.txt")
    return path


def refused(proc, *words) -> None:
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    for word in words:
        assert word in line, line


@pytest.mark.parametrize("flag", ["--out", "--tracks-out"])
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_output_that_is_the_input_is_refused_even_with_overwrite(video, flag, overwrite):
    before = sha256(video)
    proc = track(video, "--detector", "builtin", flag, video, *overwrite, cwd=video.parent)
    refused(proc, str(video), "is the input")
    assert sha256(video) == before


@pytest.mark.parametrize("link", ["symlink", "hardlink", "relative"])
def test_the_same_file_under_another_name_is_refused(video, link):
    before = sha256(video)
    other = video.parent / "other.mp4"
    if link == "symlink":
        other.symlink_to(video)
    elif link == "hardlink":
        os.link(video, other)
    else:
        (video.parent / "sub").mkdir()
        other = Path("sub/../in.mp4")
    proc = track("in.mp4", "--detector", "builtin", "--out", other, "--overwrite", cwd=video.parent)
    refused(proc, str(other), "is the input")
    assert sha256(video) == before


def test_detection_file_and_config_are_inputs_too(video, tmp_path):
    dets = tmp_path / "dets.jsonl"
    dets.write_text("")
    conf = tmp_path / "my.yaml"
    conf.write_text("tracker:\n  frame_rate: 10\n")
    before = sha256(dets), sha256(conf)
    proc = track(video, "--detector", f"file:{dets}", "--tracks-out", dets, "--overwrite")
    refused(proc, str(dets), "is the input")
    proc = track(video, "--config", conf, "--detector", "builtin", "--tracks-out", conf, "--overwrite")
    refused(proc, str(conf), "is the input")
    proc = track("detect", video, "--detector", f"file:{dets}", "--out", dets, "--overwrite")
    refused(proc, str(dets), "is the input")
    assert (sha256(dets), sha256(conf)) == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--out", "x.avi"], ["--out x.avi", ".avi", ".mp4"]),
        (["--out", "noext"], ["--out noext", "(none)"]),
        (["--tracks-out", "t.csv"], ["--tracks-out t.csv", ".csv", ".jsonl"]),
        (["--tracks-out", "t.txt", "--tracks-format", "jsonl"], ["--tracks-out t.txt", ".jsonl"]),
        (["--tracks-out", "t.jsonl", "--tracks-format", "kitti"], ["--tracks-out t.jsonl", ".txt"]),
        (["--out", "missing/x.mp4"], ["--out missing/x.mp4", "folder missing does not exist"]),
        (["--tracks-out", "missing/t.txt"], ["--tracks-out missing/t.txt", "does not exist"]),
    ],
)
def test_bad_output_paths_fail_up_front_naming_the_path(video, args, words):
    proc = track(video, "--detector", "builtin", *args, cwd=video.parent)
    refused(proc, *words)
    assert sorted(p.name for p in video.parent.iterdir()) == ["clip.txt", "in.mp4"]


def test_known_extensions_are_accepted(tmp_path):
    for video in ("a.mp4", "a.MKV", "a.mov"):
        check_outputs([], tmp_path / video, None)
    for tracks, fmt in (("t.txt", None), ("t.txt", "mot"), ("t.txt", "kitti"), ("t.jsonl", None)):
        check_outputs([], None, tmp_path / tracks, fmt)


def test_mkv_and_mov_outputs_are_those_containers(video, tmp_path):
    import av

    for suffix, name in ((".mkv", "matroska"), (".mov", "mov")):
        out = tmp_path / f"out{suffix}"
        proc = track(video, "--detector", "builtin", "--out", out)
        assert proc.returncode == 0, proc.stderr
        with av.open(str(out)) as container:
            assert name in container.format.name
            assert container.streams.video[0].frames or container.duration


def test_batch_refuses_an_output_that_is_one_of_its_videos(video, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    job = BatchJob({}, str(out_dir), True, "jsonl", 1)
    target, _ = video_outputs(video, job)
    os.link(video, target)  # the input is also where its annotated video would go
    before = sha256(video)
    proc = track("batch", video, "--out-dir", out_dir, "--detector", "builtin", "--workers", 1)
    refused(proc, "--out-dir", str(target), "is the input")
    assert sha256(video) == before
    assert not (out_dir / "summary.csv").exists()


def test_batch_and_multi_refuse_an_out_dir_that_is_a_file(video):
    for command in ("batch", "multi"):
        proc = track(command, video, "--out-dir", video, "--detector", "builtin")
        refused(proc, "--out-dir", str(video), "is a file")


def test_multi_refuses_an_output_that_is_one_of_its_sources(video, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    ((_, target),) = output_paths(out_dir, [str(video)], True)
    other = tmp_path / "other.jsonl"
    other.write_text("")
    target.symlink_to(other)
    before = sha256(other)
    proc = track("multi", video, "--out-dir", out_dir, "--detector", f"file:{other}")
    refused(proc, "--out-dir", "is the input")
    assert sha256(other) == before


def test_eval_results_never_replace_the_ground_truth(video, tmp_path):
    gt = tmp_path / "in.txt"  # the results of in.mp4 would be RESULTS/in.txt
    shutil.copy(tmp_path / "clip.txt", gt)
    before = sha256(gt)
    proc = track("eval", video, "--gt", gt, "--results-out", tmp_path)
    refused(proc, str(gt), "is the input")
    assert sha256(gt) == before


def test_eval_results_never_replace_a_dataset_file(tiny_kitti):
    label = tiny_kitti / "label_02" / "0000.txt"
    before = sha256(label)
    proc = track("eval", tiny_kitti, "--results-out", tiny_kitti / "label_02")
    refused(proc, "0000.txt", "is an input of the dataset")
    assert sha256(label) == before
