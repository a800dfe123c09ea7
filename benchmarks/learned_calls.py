"""Where a learned motion model's network time goes, on the tracker benchmark's input.

    python benchmarks/learned_calls.py [--data ../shared/data/kitti] [--set KEY=VALUE ...] [--json FILE]

One pass of ``tracker.motion.kind=hybrid`` (or what ``--set`` gives) over the KITTI dev split's
car detections, as ``tracker_speed.py`` times it. Reports how many frames ran the network, on how
many tracks, and how many of those tracks were matched to a detection again afterwards: the
network's answer for a lost track is memoised, so each run is one track's loss, and a track
that is never found again needed it only if a detection could have been there.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tracker_speed import kitti_car_sequences  # noqa: E402

from tracker import Tracker, load_config  # noqa: E402
from tracker.formats import KITTI_CLASSES, KITTI_IMAGE_SIZE  # noqa: E402
from tracker.motion.learned import LearnedBoxModel  # noqa: E402


class CountingModel(LearnedBoxModel):
    """The learned model, noting which tracks the network runs on and when each was last seen."""

    def __init__(self, config, log: dict) -> None:
        super().__init__(config)
        self.log = log

    def predict(self, mean, cov, dt, history=None, now_s=None):
        if history is not None and history.ids is not None and len(history.ids):
            seen = history.newest_time()
            for key, t in zip(history.ids.tolist(), seen.tolist(), strict=True):
                self.log["seen"][(self.log["sequence"], key)] = t
        return super().predict(mean, cov, dt, history, now_s)

    def _network(self, history, stride, rows):
        self.log["calls"] += 1
        seen = history.newest_time()[rows]
        for key, t in zip(history.ids[rows].tolist(), seen.tolist(), strict=True):
            self.log["runs"].append((self.log["sequence"], key, t))
        return super()._network(history, stride, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "kitti")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "kitti.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    config = load_config(args.config, ["tracker.motion.kind=hybrid", *args.overrides]).tracker
    if config.motion.kind == "kalman":
        parser.error("tracker.motion.kind=kalman runs no network")
    log: dict = {"calls": 0, "runs": [], "seen": {}, "sequence": 0}
    seqs = kitti_car_sequences(args.data)
    for i, seq in enumerate(seqs):
        log["sequence"] = i
        tracker = Tracker(config, KITTI_CLASSES, motion_factory=lambda c: CountingModel(c, log))
        for j, dets in enumerate(seq):
            tracker.update(dets, time_s=j / 10.0, image_size=KITTI_IMAGE_SIZE)
    runs = log["runs"]
    # Matched again: the track's newest box, seen later, is newer than when the network ran.
    refound = sum(log["seen"].get((s, key), t) > t + 1e-9 for s, key, t in runs)
    frames = sum(map(len, seqs))
    result = {
        "frames": frames,
        "network_calls": log["calls"],
        "tracks_run": len(runs),
        "tracks_matched_again": int(refound),
        "share_matched_again": round(refound / max(len(runs), 1), 3),
        "tracks_per_call": round(len(runs) / max(log["calls"], 1), 2),
    }
    print(
        f"{frames} frames: the network ran in {result['network_calls']} of them, on "
        f"{result['tracks_run']} lost tracks ({result['tracks_per_call']} a call); "
        f"{result['tracks_matched_again']} of those tracks ({100 * result['share_matched_again']:.0f} %) "
        "were matched again later"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
