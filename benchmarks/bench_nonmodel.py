"""Non-model time per frame of the DEFAULT camera pipeline (issue 27 item 3: <= 0.5 ms at 320x240).

What ``carbonedge run`` builds for a camera with one line and default settings: a site config with
only ``detector: {type: picodet}`` (the default detector, ``roi: auto`` learning its crop,
``input_fit``), the camera's ``source`` and one ``lines`` entry; the ``Site`` makes the camera's
detector (a ``ProfiledDetector``: light profiles are on by default) and its ``SourcePipeline``
(``CameraPlan.of_config``, the default motion gate, road classes, riders, modal split, a store in a
temporary folder), as ``Site._run_once`` does. Clips: the CDnet highway clip (320x240, its truth
line y = 150) and a 1280x720 clip made once (into the temp folder) by scaling
``freeway_overpass_pole_us_yasindas.mp4`` (640x360) 2x, with its truth file's first line scaled
alike.

Model time is the time inside onnxruntime's ``InferenceSession.run`` (patched on the class, so the
fitted-size sessions made later count too); everything else on the pipeline's thread is non-model
time (preprocess, decode, NMS, Detections, stages, tracker, counting, summaries, the store, packet
handling). The figure that counts is main-thread CPU time (``time.thread_time``: blind to a busy
neighbour's preemption on a shared box); wall time is printed beside it. Two kinds of pass:

- ``total``: only ``session.run`` and each frame's ``_handle_frame`` are timed (the least timer
  overhead): non-model = frame time - model time;
- ``stages``: also each stage's ``process`` and ``forget``, and inside ``detect`` the preprocess,
  the fused decode + NMS, the zoom windows' merge and the per-label score filter (each timed
  call adds ~1-2 us of clock reads).

    python -m carbonedge.benchmarks.bench_nonmodel               # both clips, table per stage
    python -m carbonedge.benchmarks.bench_nonmodel --json F      # one pass's figures as JSON
    python -m carbonedge.benchmarks.bench_nonmodel --compare ROOT --pairs 3
        # passes alternating between this tree and the tree ROOT/carbonedge (a copy with other
        # code: before/after), in subprocesses, per-stage medians side by side

``run(quick)`` (``carbonedge bench``) gives one row per clip: non-model CPU ms/frame against the
aim of issue 27, 0.5 ms at 320x240 and 1 ms at 1280x720 (the ratio is aim / measured: >= 1 meets
it).
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from carbonedge.benchmarks._harness import Row

logger = logging.getLogger(__name__)

MODEL = "picodet_s_416_coco.onnx"  # the default detector's (PicodetConfig.model)
AIM_MS = 0.5  # issue 27: non-model ms/frame in the pipeline at 320x240 (1 ms at 1280x720)
HIGHWAY = "highway_cdnet_320x240.avi"
HIGHWAY_LINE = ((0.0, 150.0), (320.0, 150.0))  # benchmarks/truth/highway_cdnet_320x240.yaml
HD_SOURCE = "freeway_overpass_pole_us_yasindas.mp4"  # 640x360, scaled 2x to 1280x720
HD_LINE = ((80.0, 240.0), (610.0, 240.0))  # its truth file's line left_cw (40,120)-(305,120) x2


def shared_dir() -> Path | None:
    """``$CARBONEDGE_SHARED_DIR`` (default ``../shared``) when it holds the highway clip and the
    default model can be found (the model folder, or its ``models/``), else None with a logged
    reason (CI=true: an error)."""
    root = Path(__file__).resolve().parents[1]
    shared = Path(os.environ.get("CARBONEDGE_SHARED_DIR", root.parent / "shared"))
    clip = shared / "media" / "traffic" / HIGHWAY
    try:
        default_model(shared)
        if clip.is_file():
            return shared
    except FileNotFoundError:
        pass
    reason = f"bench_nonmodel: {clip} or the default detector's model not found"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise FileNotFoundError(f"{reason}; CI must run with the real data")
    logger.warning("%s (set CARBONEDGE_SHARED_DIR): skipped", reason)
    return None


def default_model(shared: Path) -> str | None:
    """None when the model folder has the default detector's model (the config names it, as a
    user's does), else its path in ``shared/models``; ``FileNotFoundError`` when neither has it."""
    from carbonedge.runtime.base.errors import ModelError
    from carbonedge.vision.detectors.model_files import locate_model

    try:
        locate_model(MODEL)
        return None
    except ModelError:
        path = shared / "models" / MODEL
        if not path.is_file():
            raise FileNotFoundError(
                f"{MODEL} is neither in the model folder nor in {path.parent}"
            ) from None
        return str(path)


def hd_clip(shared: Path, frames: int = 300) -> Path:
    """The 1280x720 clip: ``HD_SOURCE`` scaled 2x (bilinear), made once into the temp folder."""
    import cv2

    out = Path(tempfile.gettempdir()) / "carbonedge-bench" / f"overpass_1280x720_{frames}.mp4"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(str(shared / "media" / "traffic" / HD_SOURCE))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    part = out.with_suffix(".part.mp4")
    writer = cv2.VideoWriter(str(part), cv2.VideoWriter_fourcc(*"mp4v"), fps, (1280, 720))
    for _ in range(frames):
        ok, image = cap.read()
        if not ok:
            break
        writer.write(cv2.resize(image, (1280, 720), interpolation=cv2.INTER_LINEAR))
    writer.release()
    cap.release()
    part.replace(out)
    return out


def aim_ms(clip: Path) -> float:
    """Issue 27's aim for a clip: 0.5 ms at 320x240, 1 ms at 1280x720."""
    return 2 * AIM_MS if "1280x720" in clip.name else AIM_MS


def clips(shared: Path) -> list[tuple[str, Path, tuple]]:
    """(label, clip, line) of the two measured clips."""
    return [
        ("320x240 highway", shared / "media" / "traffic" / HIGHWAY, HIGHWAY_LINE),
        ("1280x720 overpass x2", hd_clip(shared), HD_LINE),
    ]


# --- timers --------------------------------------------------------------------------------------
class Timed:
    """Wall and main-thread CPU seconds spent in the callables it wraps, and the calls."""

    def __init__(self) -> None:
        self.wall_s = self.cpu_s = 0.0
        self.calls = 0

    def wrap(self, fn: Callable) -> Callable:
        wall, cpu = time.perf_counter, time.thread_time

        def timed(*args: Any, **kwargs: Any) -> Any:
            w0, c0 = wall(), cpu()
            try:
                return fn(*args, **kwargs)
            finally:
                self.cpu_s += cpu() - c0
                self.wall_s += wall() - w0
                self.calls += 1

        return timed


_MISSING = object()


def _patch(owner: Any, attr: str, timer: Timed, undo: list) -> None:
    """Wrap ``owner.attr`` (a class's, a module's or an instance's) in ``timer``; ``undo`` gets
    what puts it back."""
    undo.append((owner, attr, vars(owner).get(attr, _MISSING)))
    setattr(owner, attr, timer.wrap(getattr(owner, attr)))


def _unpatch(undo: list) -> None:
    for owner, attr, original in reversed(undo):
        if original is _MISSING:
            delattr(owner, attr)
        else:
            setattr(owner, attr, original)


# --- the default pipeline ------------------------------------------------------------------------
def default_site(clip: Path, line: tuple, out_dir: Path, model: str | None = None):
    """The site config (``SiteConfig``) of one camera with one line and every default (detector:
    picodet; ``model``: where its default model file is, when not in the model folder)."""
    from carbonedge.runtime.config import parse_site_config

    (x0, y0), (x1, y1) = line
    detector = {"type": "picodet"} if model is None else {"type": "picodet", "model": model}
    return parse_site_config(
        {
            "device_id": "bench",
            "detector": detector,
            "cameras": {
                "cam": {
                    "source": {"type": "video_file", "path": str(clip)},
                    "lines": [{"id": "line", "start_px": [x0, y0], "end_px": [x1, y1]}],
                }
            },
            "output": {"sqlite_path": str(out_dir / "bench.sqlite"), "jsonl_path": None},
        },
        origin="bench_nonmodel",
    )


def measure(
    clip: Path, line: tuple, frames: int, *, stages: bool, model: str | None = None
) -> dict[str, Any]:
    """One pass of the default pipeline over ``clip``: per-frame ms (wall and CPU) of the model,
    the whole frame, and (``stages``) each stage; the crossings counted. ``model``: the default
    model's path when it is not in the model folder (``default_model``)."""
    import onnxruntime as ort

    from carbonedge.devices.sources import create_source
    from carbonedge.runtime.pipeline import CameraPlan, SourcePipeline
    from carbonedge.runtime.site import Site
    from carbonedge.runtime.store import Store

    in_model = Timed()
    undo: list = []
    _patch(ort.InferenceSession, "run", in_model, undo)
    timers: dict[str, Timed] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = default_site(clip, line, Path(tmp), model)
            site = Site(config)
            camera = site.cameras["cam"]
            for detector in site._all_detectors():
                detector.warmup()
            with Store(config.output.sqlite_path, None) as store:
                pipeline = SourcePipeline(
                    device_id=config.device_id, source=create_source(camera.source),
                    detector=site.pipeline_detectors["cam"],
                    camera=CameraPlan.of_config(camera, None),
                    interval_s=config.summary.interval_s, store=store,
                    camera_moved=site.camera_checks.get("cam"),
                )  # fmt: skip
                frame_timer = timers["frame (all of it)"] = Timed()
                _patch(pipeline, "_handle_frame", frame_timer, [])
                if stages:
                    _time_stages(pipeline, timers, undo)
                in_model.wall_s = in_model.cpu_s = 0.0
                in_model.calls = 0  # the warm-up runs do not count
                result = pipeline.run(max_frames=frames)
            site.detector_pool.close()
            for detector in site._all_detectors():
                detector.close()
    finally:
        _unpatch(undo)
    n = max(result.frames, 1)
    per = {k: {"wall_ms": 1e3 * t.wall_s / n, "cpu_ms": 1e3 * t.cpu_s / n}
           for k, t in {**timers, "model (session.run)": in_model}.items()}  # fmt: skip
    frame = per["frame (all of it)"]
    per["NON-MODEL (frame - model)"] = {
        k: frame[k] - per["model (session.run)"][k] for k in ("wall_ms", "cpu_ms")
    }
    counts = result.counts().get("line", {})
    return {
        "frames": result.frames, "detector_calls": result.detector_calls,
        "model_runs": in_model.calls, "strided_frames": result.strided_frames,
        "crossings": sum(n for d in counts.values() for n in d.values()), "ms": per,
    }  # fmt: skip


def _time_stages(pipeline: Any, timers: dict[str, Timed], undo: list) -> None:
    """Stage timers on ``pipeline`` (set once its stages are built) and detector-part timers."""
    from carbonedge.vision.detectors import picodet, yolo_common

    parts = (("  preprocess", picodet.PicodetDetector, "_preprocess"),
             ("  decode + NMS", picodet.PicodetDetector, "_decode_nms"),  # one fused call
             ("  zoom windows' merge", yolo_common.YoloOnnxDetector, "_merged"),
             ("  label score filter", yolo_common, "keep_above"))  # fmt: skip
    for label, owner, attr in parts:
        if hasattr(owner, attr):
            _patch(owner, attr, timers.setdefault(label, Timed()), undo)
    start = pipeline._start

    def started(*args: Any, **kwargs: Any) -> Any:
        aggregator = start(*args, **kwargs)
        for stage in pipeline.stages:
            _patch(stage, "process", timers.setdefault(f"stage {stage.name}", Timed()), [])
            _patch(stage, "forget", timers.setdefault("forget (all stages)", Timed()), [])
        for attr in ("roll", "add_frame"):
            _patch(aggregator, attr, timers.setdefault("interval aggregator", Timed()), [])
        _patch(pipeline, "_emit", timers.setdefault("store writer (_emit)", Timed()), [])
        return aggregator

    pipeline._start = started


# --- report --------------------------------------------------------------------------------------
def _order(keys: list[str]) -> list[str]:
    first = ["frame (all of it)", "model (session.run)", "NON-MODEL (frame - model)"]
    rest = [k for k in keys if k not in first]
    stage_keys = [k for k in rest if k.startswith("stage ")]
    detect_parts = [k for k in rest if k.startswith("  ")]
    others = [k for k in rest if k not in stage_keys and k not in detect_parts]
    out = [k for k in first if k in keys]
    for k in stage_keys:
        out.append(k)
        if k == "stage detect":
            out += detect_parts
    return out + others


def format_pass(label: str, res: dict[str, Any]) -> str:
    lines = [
        f"{label}: {res['frames']} frames, {res['detector_calls']} detector calls, "
        f"{res.get('model_runs', '?')} model runs (whole frame and zoom windows), "
        f"{res['crossings']} crossings",
        f"{'':<30}{'CPU ms/frame':>13}{'wall ms/frame':>15}",
    ]
    for key in _order(list(res["ms"])):
        v = res["ms"][key]
        lines.append(f"{key:<30}{v['cpu_ms']:>13.3f}{v['wall_ms']:>15.3f}")
    return "\n".join(lines)


def _subprocess_pass(
    root: Path | None, clip: Path, line: tuple, frames: int, stages: bool, model: str | None
) -> dict:
    """One pass in a fresh interpreter importing ``carbonedge`` from ``root`` (None: this tree)."""
    env = dict(os.environ)
    if root is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [sys.executable, "-m", "carbonedge.benchmarks.bench_nonmodel", "--clip", str(clip),
               "--line", json.dumps(line), "--frames", str(frames), "--json", out.name]  # fmt: skip
        if stages:
            cmd.append("--stages")
        if model is not None:
            cmd += ["--model", model]
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        return json.loads(Path(out.name).read_text(encoding="utf-8"))


def compare(root: Path, pairs: int, frames: int, stages: bool) -> str:
    """Passes alternating between ``root`` ("A", e.g. the code before a change) and this tree
    ("B"), per clip; per-stage medians of main-thread CPU ms/frame and the counts."""
    shared = shared_dir()
    if shared is None:
        return "no shared media: nothing measured\n"
    out = []
    for label, clip, line in clips(shared):
        runs: dict[str, list[dict]] = {"A": [], "B": []}
        for k in range(pairs):
            order = ("A", "B") if k % 2 == 0 else ("B", "A")
            for side in order:
                res = _subprocess_pass(
                    root if side == "A" else None, clip, line, frames, stages, default_model(shared)
                )
                runs[side].append(res)
        keys = _order(list(runs["B"][0]["ms"]))
        out.append(f"{label} ({pairs} pairs, medians; A = {root}, B = this tree); load avg "
                   f"{os.getloadavg()[0]:.1f}")  # fmt: skip
        out.append(f"{'':<30}{'A cpu':>9}{'B cpu':>9}{'A wall':>9}{'B wall':>9}")
        for key in keys:
            cells = []
            for kind in ("cpu_ms", "wall_ms"):
                for side in ("A", "B"):
                    vals = [r["ms"][key][kind] for r in runs[side] if key in r["ms"]]
                    cells.append(f"{statistics.median(vals):>9.3f}" if vals else f"{'-':>9}")
            out.append(f"{key:<30}{''.join(cells)}")
        for side in ("A", "B"):
            out.append(f"crossings {side}: {[r['crossings'] for r in runs[side]]}, frames "
                       f"{[r['frames'] for r in runs[side]]}")  # fmt: skip
        out.append("")
    return "\n".join(out) + "\n"


def run(quick: bool) -> list[Row]:
    """``carbonedge bench``: one row per clip, non-model CPU ms/frame against the 0.5 ms aim."""
    shared = shared_dir()
    if shared is None:
        return []
    rows = []
    for label, clip, line in clips(shared):
        res = measure(clip, line, 200 if quick else 1_000_000, stages=False,
                      model=default_model(shared))  # fmt: skip
        rows.append(Row("pipeline non-model time (default)", f"{label}, main-thread CPU per frame",
                        res["ms"]["NON-MODEL (frame - model)"]["cpu_ms"], aim_ms(clip),
                        "issue 27 aim"))  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    import argparse

    from carbonedge.runtime.cli import configure_process

    parser = argparse.ArgumentParser(prog="python -m carbonedge.benchmarks.bench_nonmodel")
    parser.add_argument("--frames", type=int, default=1_000_000, help="frames per pass at most")
    parser.add_argument("--stages", action="store_true", help="time every stage too")
    parser.add_argument("--clip", type=Path, help="one clip (with --line) instead of both")
    parser.add_argument("--line", type=json.loads, help="[[x0, y0], [x1, y1]] px, with --clip")
    parser.add_argument("--json", type=Path, help="write the pass's figures here (with --clip)")
    parser.add_argument("--model", help="the default model's path (with --clip; default: found)")
    parser.add_argument("--compare", type=Path, help="import root of the other tree (A)")
    parser.add_argument("--pairs", type=int, default=3, help="--compare: pairs per clip")
    args = parser.parse_args(argv)
    configure_process()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    if args.compare is not None:
        sys.stdout.write(compare(args.compare, args.pairs, args.frames, args.stages))
        return 0
    model = args.model
    if args.clip is not None:
        chosen = [(args.clip.name, args.clip, tuple(map(tuple, args.line)))]
    else:
        shared = shared_dir()
        if shared is None:
            return 0
        chosen, model = clips(shared), default_model(shared)
    for label, clip, line in chosen:
        res = measure(clip, line, args.frames, stages=args.stages, model=model)
        if args.json is not None:
            args.json.write_text(json.dumps(res), encoding="utf-8")
        nm, aim = res["ms"]["NON-MODEL (frame - model)"]["cpu_ms"], aim_ms(clip)
        looked = res["frames"] - res["strided_frames"]  # frames the vehicle stages saw
        per_look = nm * res["frames"] / max(looked, 1)
        seen = f"{per_look:.3f} ms per frame the vehicle stages saw ({looked} of {res['frames']})"
        sys.stdout.write(format_pass(label, res) + f"\nnon-model CPU {nm:.3f} ms/frame: "
                         f"{aim / nm:.2f}x the {aim:g} ms aim; {seen}\n\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
