"""Accuracy benchmark (``carbonedge bench --only accuracy``): every hand-counted truth clip of
``benchmarks/truth`` run by each detector option at its default settings, and by the peer
pipeline, in one run.

Per clip and in total: event F1 (a counted crossing matches a true one of the same line and
direction within 1 s), per class group true / counted / matched / missed / phantom, and frames per
second of the whole audit (decode, detect, track, count) on this machine. The peer is the
tutorial pipeline of ``bench_e2e``: YOLOX-nano 416, NumPy decode, class-agnostic OpenCV NMS,
``trackers`` ByteTrack and one supervision ``LineZone`` per truth line (bottom-centre anchor),
its COCO labels put in road-v1 by the same label map.

These are development figures: the rules were chosen while looking at these clips. Clips are
read from ``$CARBONEDGE_SHARED_DIR/media/traffic`` (or ``../shared/media/traffic``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from carbonedge.benchmarks._harness import Row

TRUTH_DIR = Path(__file__).parent / "truth"
DETECTORS: tuple[str, ...] = ("yolox", "picodet", "deimv2")
PEER = "peer (yolox-nano + trackers + sv.LineZone)"


def run(quick: bool = False) -> list[Row]:
    from carbonedge.runtime.audit_folder import audit_folder, default_media_dir

    media = default_media_dir()
    if not media.is_dir():
        sys.stdout.write(f"accuracy: no clips at {media} (set CARBONEDGE_SHARED_DIR): skipped\n\n")
        return []
    if quick:  # minutes of video per detector: not a quick benchmark
        sys.stdout.write(
            "accuracy: skipped with --quick (run `carbonedge bench --only accuracy`)\n\n"
        )
        return []
    only = ""
    results: dict[str, dict[str, Any]] = {}
    for det in DETECTORS:
        results[det] = audit_folder(TRUTH_DIR, media, {"type": det}, only).to_dict()
        _progress(det, results[det]["totals"])
    results[PEER] = peer_folder(TRUTH_DIR, media, only)
    _progress(PEER, results[PEER]["totals"])
    sys.stdout.write(format_accuracy(results) + "\n\n")
    sys.stdout.flush()
    return []


def _progress(name: str, totals: dict[str, Any]) -> None:
    sys.stderr.write(
        f"accuracy: {name}: event F1 {totals['event_f1']:.3f} ({totals['matched']} "
        f"matched, {totals['true']} true, {totals['counted']} counted)\n"
    )
    sys.stderr.flush()


def format_accuracy(results: dict[str, dict[str, Any]]) -> str:
    names = list(results)
    clips = [c["truth"] for c in results[names[0]]["clips"]]
    out = ["### Accuracy on the hand-counted dev clips (event F1; development figures)", ""]
    out.append("| clip | true | " + " | ".join(f"{n} F1 (counted/matched)" for n in names) + " |")
    out.append("|---|---:|" + "---:|" * len(names))
    for i, clip in enumerate(clips):
        row = [Path(clip).stem, str(results[names[0]]["clips"][i]["events"]["true"])]
        for n in names:
            ev = results[n]["clips"][i]["events"]
            row.append(f"{ev['event_f1']:.3f} ({ev['counted']}/{ev['matched']})")
        out.append("| " + " | ".join(row) + " |")
    tot = [results[n]["totals"] for n in names]
    out.append(
        "| **total** | "
        + str(tot[0]["true"])
        + " | "
        + " | ".join(f"**{t['event_f1']:.3f}** ({t['counted']}/{t['matched']})" for t in tot)
        + " |"
    )
    out.append(
        "| frames per second | | "
        + " | ".join(f"{t['frames'] / t['wall_s']:.1f}" if t["wall_s"] else "-" for t in tot)
        + " |"
    )
    out += ["", "Class groups (true / counted / matched within the group / missed / phantom):", ""]
    out.append("| group | " + " | ".join(names) + " |")
    out.append("|---|" + "---|" * len(names))
    groups = sorted(
        {g for t in tot for g in t["by_group"]},
        key=lambda g: ("light", "heavy", "two-wheeler", "pedestrian", "other").index(g),
    )
    for g in groups:
        cells = []
        for t in tot:
            r = t["by_group"].get(g)
            cells.append(
                "-"
                if r is None
                else " / ".join(
                    str(r[k]) for k in ("true", "counted", "matched", "missed", "phantom")
                )
            )
        out.append(f"| {g} | " + " | ".join(cells) + " |")
    return "\n".join(out)


# --- the peer ------------------------------------------------------------------------------------
def peer_folder(folder: Path, media: Path, only: str = "") -> dict[str, Any]:
    """The peer pipeline over every truth file: the same report shape as ``audit_folder``."""
    from carbonedge.runtime.audit_events import match_events, sum_scores
    from carbonedge.runtime.audit_traffic import load_truth, truth_crossings

    clips: list[dict[str, Any]] = []
    scores = []
    frames_all, wall_all = 0, 0.0
    for path in sorted(folder.glob("*.yaml")):
        if only not in path.name:
            continue
        truth = load_truth(path)
        if truth.clip is None or truth.vehicles is None:
            continue
        t0 = time.perf_counter()
        crossings, frames, fps = peer_crossings(media / truth.clip, truth)
        wall = time.perf_counter() - t0
        score = match_events(truth_crossings(truth, fps), crossings)
        scores.append(score)
        clips.append(
            {"truth": path.name, "fps": round(frames / wall, 1), "events": score.to_dict()}
        )
        frames_all += frames
        wall_all += wall
    totals = {**sum_scores(scores), "frames": frames_all, "wall_s": round(wall_all, 2)}
    return {"clips": clips, "totals": totals}


def peer_crossings(clip: Path, truth: Any) -> tuple[list[Any], int, float]:
    """Run the peer over ``clip`` with one LineZone per truth line; its crossings (road-v1)."""
    import cv2
    import onnxruntime as ort
    import supervision as sv

    from carbonedge.benchmarks.bench_e2e import (
        COCO_VEHICLE_IDS,
        SCORE_THRESHOLD,
        peer_postprocess,
        yolox_grids,
        yolox_preprocess,
    )
    from carbonedge.benchmarks.bench_tracking import peer_line_zone, peer_tracker
    from carbonedge.runtime.audit_events import Crossing
    from carbonedge.vision.coco import COCO80
    from carbonedge.vision.detectors.model_files import locate_model
    from carbonedge.vision.taxonomy import LABEL_TO_ROAD

    session = ort.InferenceSession(
        str(locate_model("yolox_nano_416.onnx")), providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    input_hw = tuple(session.get_inputs()[0].shape[2:4])
    grids, strides = yolox_grids(input_hw)
    vehicle_ids = np.asarray(COCO_VEHICLE_IDS)
    cap = cv2.VideoCapture(str(clip))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    tracker = peer_tracker(fps)
    zones = {ln.id: peer_line_zone((tuple(ln.start_px), tuple(ln.end_px))) for ln in truth.lines}
    out: list[Crossing] = []
    frame = 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        blob, ratio = yolox_preprocess(image, input_hw)
        raw = session.run(None, {name: blob})[0]
        xyxy, confidence, class_id = peer_postprocess(
            raw[0], ratio, grids, strides, vehicle_ids, SCORE_THRESHOLD
        )
        tracked = tracker.update(sv.Detections(xyxy=xyxy, confidence=confidence, class_id=class_id))
        for line_id, zone in zones.items():
            crossed_in, crossed_out = zone.trigger(tracked)
            for direction, mask in (("in", crossed_in), ("out", crossed_out)):
                for i in np.flatnonzero(mask):
                    label = COCO80[int(tracked.class_id[i])]
                    out.append(
                        Crossing(
                            line_id,
                            direction,
                            frame / fps,
                            frame,
                            LABEL_TO_ROAD.get(label) or label,
                        )
                    )
        frame += 1
    cap.release()
    return out, frame, fps
