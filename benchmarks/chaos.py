"""Chaos soak of a real box: kills, power cuts, a full disk, broker faults, and the receiving
side's fuzz soak, with one figures table at the end.

    sudo .venv/bin/python -m carbonedge.benchmarks.chaos                      # about 10 minutes
    sudo .venv/bin/python -m carbonedge.benchmarks.chaos --kills 3 --power-cuts 2 --disk-full 2 \\
        --broker-faults 4 --fuzz-cases 2000 --fuzz-config-cases 200            # about 3 minutes

Everything is real: ``carbonedge run`` and ``carbonedge ingest`` processes, Mosquitto (with
persistence), the store (SQLite, its JSON-lines copy and sequence sidecar) on a loop-mounted ext4
image. The same rigs as the suite's fault tests (``tests/uplink/chaos_rigs.py``,
``fault_proxy.py``), at a larger scale:

1. kills and power cuts, shuffled: the box counts the synthetic scene fast (one summary per
   ``--interval-s`` of scene time), drains at 40 messages/s, and is SIGKILLed 1-9 s after it
   starts; on a power cut the image file is copied right after the kill and the box restarts from
   the copy (``LoopImage.power_cut``): every summary the platform had received must still be in
   it. After a restart /healthz must list no committed rows lost (``store.integrity_problems``).
2. disk full: a fresh recording played in real time; the image is filled to ENOSPC and /healthz
   must turn 503 naming the store or the disk. The space comes back while the box runs (even
   episodes), or the box gets SIGTERM during the outage (odd ones: it spills outside the image,
   exits 3 with 0 LOST, the next start replays the spill file).
3. broker faults through ``FaultProxy``, in turn: a blackhole longer than the MQTT keepalive,
   a crawling link (each chunk held longer than ``stalled_after_s``), Mosquitto stopped and
   started again, a slow link that still delivers (no alarm expected). For each: whether /healthz
   showed it (503 with the uplink reason), how fast, and how fast it was 200 again.
4. ``soak_fuzz`` in background processes for the whole run.

At the end every summary in the store must have arrived once after de-duplication, first
arrivals in sequence order, and the JSON-lines copy must be whole. Exit status 1 when anything was
lost, duplicated or not shown, or something crashed. Needs root, loop devices, mkfs.ext4 and
Mosquitto (``.ci/install-rigs``) and a source checkout (the rigs live in ``tests/``).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WAIT_S = 120  # a bound for a condition to come true, not a timing


@dataclass
class Fault:
    """One kind of fault: how often, and what /healthz said about it."""

    episodes: int = 0
    shown: int = 0  # /healthz answered 503 with the matching reason during the fault
    detect_s: list[float] = field(default_factory=list)
    recover_s: list[float] = field(default_factory=list)
    reason: str = ""
    expect_alarm: bool = True
    expect_recover: int = 0  # episodes after which the box runs on and must be 200 again


def _rigs() -> SimpleNamespace:
    """The tests' rigs (a source checkout's tests/ and tests/uplink on ``sys.path``)."""
    for folder in (REPO / "tests", REPO / "tests" / "uplink"):
        if not (folder / "rigs.py").exists() and not (folder / "chaos_rigs.py").exists():
            raise SystemExit(f"chaos: {folder} not found: run from a source checkout")
        sys.path.insert(0, str(folder))
    import chaos_rigs
    import fault_proxy
    import uplink_rigs

    return SimpleNamespace(
        **vars(chaos_rigs),
        FaultProxy=fault_proxy.FaultProxy,
        make_broker=uplink_rigs.make_broker,
        free_port=uplink_rigs.free_port,
    )


class Chaos:
    def __init__(self, args: argparse.Namespace, work: Path, rigs: SimpleNamespace) -> None:
        self.args, self.work, self.r = args, work, rigs
        self.rng = random.Random(args.seed)
        self.broker = rigs.make_broker(work / "broker").start()
        self.disk = rigs.LoopImage(work / "disk.img", work / "mnt", size_mb=160).create()
        self.key_file, keys = rigs.write_keys(work)
        self.store = self.disk.mountpoint / "box.sqlite"
        self.jsonl = self.disk.mountpoint / "summaries.jsonl"
        self.ingest = rigs.Ingest(self.broker.port, keys, work / "platform.sqlite",
                                  work / "ingest.log").start()  # fmt: skip
        self.log, self.health_port = work / "box.log", rigs.free_port()
        self.kills = self.lost_at_cuts = self.integrity_problems = 0
        self.unexpected_exits: list[str] = []
        self.faults: dict[str, Fault] = {}

    def config(self, name: str, source: dict[str, Any], **kw: Any) -> Path:
        kw.setdefault("broker_port", self.broker.port)
        return self.r.site_yaml(self.work / f"{name}.yaml", source=source, store=self.store,
                                jsonl=self.jsonl, key_file=self.key_file,
                                spill_dir=self.work / "spill", health_port=self.health_port,
                                **kw)  # fmt: skip

    def expect_exit(self, box: Any, codes: tuple[int, ...], what: str) -> int:
        rc = box.wait(WAIT_S * 2)
        if rc not in codes:
            self.unexpected_exits.append(f"{what}: exit {rc}, expected {codes}")
        return rc

    def fault(self, kind: str, **kw: Any) -> Fault:
        return self.faults.setdefault(kind, Fault(**kw))

    # --- 1. kills and power cuts -------------------------------------------------------------
    def kills_and_cuts(self) -> None:
        source = self.r.synthetic_source(duration_s=3600, fps=2)
        config = self.config("scene", source, interval_s=self.args.interval_s, drain_rate_msg_s=40)
        plan = ["kill"] * self.args.kills + ["cut"] * self.args.power_cuts
        self.rng.shuffle(plan)
        for n, what in enumerate(plan):
            box = self.r.Box(config, self.log).start()
            time.sleep(self.rng.uniform(1.0, 9.0))
            self._check_integrity()
            if not box.running():  # it finished everything before the kill
                self.expect_exit(box, (0,), f"scene run {n}")
                continue
            box.kill()
            self.kills += 1
            if what == "cut":
                self.disk.power_cut()
                self._check_cut(n)
            print(f"chaos: {what} {n + 1}/{len(plan)}", file=sys.stderr, flush=True)
        final = self.config("scene", source, interval_s=self.args.interval_s,
                            drain_rate_msg_s=400)  # fmt: skip
        self.expect_exit(self.r.Box(final, self.log).start(), (0,), "scene, final run")

    def _check_cut(self, n: int) -> None:
        """Every summary the platform received is in the store the box restarts from."""
        received = {i for *_, i in self.ingest.summaries()}
        try:
            restored = set(self.r.stored_summaries(self.store))
        except Exception as exc:  # noqa: BLE001 - a corrupt store: the box must quarantine it
            print(f"chaos: cut {n}: the store does not open ({exc})", file=sys.stderr)
            restored = set()
        self.lost_at_cuts += len(received - restored)

    def _check_integrity(self) -> None:
        code, body = self.r.healthz(self.health_port)
        if body is not None:
            self.integrity_problems += len(body.get("store", {}).get("integrity_problems", []))

    # --- 2. disk full ------------------------------------------------------------------------
    def disk_full(self) -> None:
        for k in range(self.args.disk_full):
            clip = self.r.write_clip(self.work / f"disk-full-{k}.avi", seconds=120)
            config = self.config(f"disk-full-{k}", {"type": "video_file", "path": str(clip),
                                                    "realtime": True},
                                 disk_min_free_mb=1, shutdown_flush_s=2)  # fmt: skip
            box = self.r.Box(config, self.log).start()
            self._wait_healthy(box)
            filler = self._fill()
            f = self.fault("disk full")
            f.episodes += 1
            self._watch(f, box, hold_s=4.0, match=("store:", "disk:"))
            if k % 2 == 0:  # space again while it runs
                f.expect_recover += 1
                filler.unlink()
                self._recovered(f, box)
                box.stop_nowait()
                self.expect_exit(box, (0,), f"disk-full {k}")
            else:  # SIGTERM during the outage: spilled, exit 3, replayed at the next start
                box.stop_nowait()
                self.expect_exit(box, (3,), f"disk-full {k} (spill)")
                filler.unlink()
            print(f"chaos: disk full {k + 1}/{self.args.disk_full}", file=sys.stderr, flush=True)

    def _fill(self) -> Path:
        filler = self.disk.mountpoint / "filler.bin"
        try:
            with open(filler, "wb") as f:
                while True:
                    f.write(b"\0" * (1 << 16))
                    f.flush()
        except OSError:  # ENOSPC
            pass
        return filler

    # --- 3. broker faults --------------------------------------------------------------------
    def broker_faults(self) -> None:
        proxy = self.r.FaultProxy(self.broker.port)
        clip = self.r.write_clip(self.work / "broker-faults.avi", seconds=1800)
        config = self.config("broker-faults", {"type": "video_file", "path": str(clip),
                                               "realtime": True},
                             broker_port=proxy.port, stalled_after_s=self.args.stalled_after_s,
                             keepalive_s=5)  # fmt: skip
        box = self.r.Box(config, self.log).start()
        kinds = ["blackhole", "crawl", "broker stopped", "slow link"]
        try:
            self._wait_healthy(box)
            for n in range(self.args.broker_faults):
                self._broker_fault(kinds[n % len(kinds)], proxy, box)
                print(f"chaos: broker fault {n + 1}/{self.args.broker_faults}", file=sys.stderr,
                      flush=True)  # fmt: skip
            box.stop_nowait()
            self.expect_exit(box, (0,), "broker faults")
        finally:
            proxy.close()

    def _broker_fault(self, kind: str, proxy: Any, box: Any) -> None:
        f = self.fault(kind, expect_alarm=kind != "slow link")
        f.episodes += 1
        f.expect_recover += 1
        if kind == "blackhole":  # longer than the keepalive: the client gives up, reconnects
            proxy.set("blackhole")
        elif kind == "crawl":
            proxy.set("slow", delay_s=self.args.stalled_after_s + 5)
        elif kind == "slow link":
            proxy.set("slow", delay_s=0.2, rate_bps=4000)
        else:
            self.broker.stop()
        self._watch(f, box, hold_s=12.0, match=("uplink:",))
        if kind == "broker stopped":
            self.broker.start()
        proxy.set("pass")
        self._recovered(f, box)

    # --- /healthz ----------------------------------------------------------------------------
    def _wait_healthy(self, box: Any) -> None:
        self.r.wait_for(lambda: not box.running() or self.r.healthz(self.health_port)[0] == 200,
                        WAIT_S, "/healthz 200")  # fmt: skip

    def _watch(self, f: Fault, box: Any, hold_s: float, match: tuple[str, ...]) -> None:
        """Poll /healthz for ``hold_s``: the first 503 with a reason starting with ``match``."""
        t0 = time.monotonic()
        detected = None
        while time.monotonic() - t0 < hold_s and box.running():
            code, body = self.r.healthz(self.health_port)
            reasons = [r for r in (body or {}).get("reasons", []) if r.startswith(match)]
            if code == 503 and reasons and detected is None:
                detected = time.monotonic() - t0
                f.reason = f.reason or re.sub(r"\d+(\.\d+)?", "N", reasons[0])
            time.sleep(0.2)
        if detected is not None and box.running():  # a box that died shows nothing
            f.shown += 1
            f.detect_s.append(detected)

    def _recovered(self, f: Fault, box: Any) -> None:
        t0 = time.monotonic()
        self._wait_healthy(box)
        if box.running():
            f.recover_s.append(time.monotonic() - t0)

    # --- the end -----------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        stored = self.r.stored_summaries(self.store)
        self.r.wait_for(lambda: len({i for *_, i in self.ingest.summaries()}) >= len(stored),
                        WAIT_S, "every stored summary upstream")  # fmt: skip
        result = self.r.check_delivered(self.ingest, stored)
        ids = [json.loads(x)["id"] for x in self.jsonl.read_text().splitlines() if x.strip()]
        result["jsonl_missing"] = len(set(stored) - set(ids))
        result["jsonl_duplicated"] = len(ids) - len(set(ids))
        result["lost_at_cuts"] = self.lost_at_cuts
        return result

    def close(self) -> None:
        self.ingest.stop()
        self.broker.stop()
        self.disk.umount()


def start_fuzz(args: argparse.Namespace, work: Path) -> list[tuple[subprocess.Popen, Path]]:
    runs = []
    for name, cases, only in (("fuzz-receiving", args.fuzz_cases, ["verify", "ingest", "hj212"]),
                              ("fuzz-config", args.fuzz_config_cases, ["config"])):  # fmt: skip
        if cases <= 0:
            continue
        out = work / f"{name}.txt"
        cmd = [sys.executable, "-m", "carbonedge.benchmarks.soak_fuzz", "--cases", str(cases),
               "--seed", str(args.seed)] + [a for o in only for a in ("--only", o)]  # fmt: skip
        with out.open("w") as f:
            runs.append((subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT), out))
    return runs


def fuzz_results(runs: list[tuple[subprocess.Popen, Path]]) -> tuple[dict[str, int], int]:
    """Cases per target and crashes, read from soak_fuzz's table."""
    cases, crashes = {}, 0
    for proc, out in runs:
        proc.wait()
        for m in re.finditer(r"^\| (\w+) \| (\d+) \| [^|]* \| (\d+) \|", out.read_text(), re.M):
            cases[m.group(1)] = int(m.group(2))
            crashes += int(m.group(3))
        crashes += proc.returncode not in (0, 1)  # 1: crashes, counted in the table
    return cases, crashes


def print_table(chaos: Chaos, result: dict[str, Any], fuzz: dict[str, int], crashes: dict[str, int],
                elapsed_s: float) -> None:  # fmt: skip
    a, faults = chaos.args, chaos.faults
    broker = {k: f for k, f in faults.items() if k != "disk full"}
    rows = [
        ("kills (SIGKILL of carbonedge run)", chaos.kills),
        ("  of them power cuts (image copied after the kill)", chaos.disk.cuts),
        ("disk-full episodes (ENOSPC on the store's filesystem)", faults.get("disk full",
                                                                             Fault()).episodes),
        ("broker faults (" + ", ".join(f"{k} {f.episodes}" for k, f in broker.items()) + ")",
         sum(f.episodes for f in broker.values())),
        ("fuzz cases (" + ", ".join(f"{k} {n}" for k, n in fuzz.items()) + ")",
         sum(fuzz.values())),
        ("summaries committed (in the store at the end)", result["stored"]),
        ("received upstream (unique after de-duplication)", result["received"]),
        ("lost", result["lost"]),
        ("  received before a power cut, gone after it", result["lost_at_cuts"]),
        ("duplicated after de-duplication", result["duplicated"]),
        ("raw duplicates dropped by ingest (re-sent after a kill or a reconnect)",
         result["raw_duplicates"]),
        ("sequence numbers reused (replays) / first arrivals out of order",
         f"{result['replays']} / {result['out_of_order']}"),
        ("JSON-lines copy: missing / duplicated lines",
         f"{result['jsonl_missing']} / {result['jsonl_duplicated']}"),
        ("committed rows lost, listed by /healthz after a restart", chaos.integrity_problems),
        ("crashes (" + ", ".join(f"{k} {n}" for k, n in crashes.items()) + ")",
         sum(crashes.values())),
    ]  # fmt: skip
    print(f"\nchaos run: seed {a.seed}, {elapsed_s / 60:.1f} min\n")
    print("| figure | value |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(
        "\n| fault | episodes | /healthz 503 with the reason | detected after (max) | "
        "200 again after (max) | reason |\n|---|---:|---|---:|---:|---|"
    )
    for kind, f in faults.items():
        shown = (
            f"{f.shown}/{f.episodes}"
            if f.expect_alarm
            else f"{f.shown}/{f.episodes} (none expected: still delivering)"
        )
        detect = f"{max(f.detect_s):.1f} s" if f.detect_s else "-"
        recover = f"{max(f.recover_s):.1f} s" if f.recover_s else "-"
        print(f"| {kind} | {f.episodes} | {shown} | {detect} | {recover} | {f.reason or '-'} |")
    print(
        "| kill / power cut | "
        f"{chaos.kills} | n/a: the process is gone; after each restart "
        f"/healthz listed {chaos.integrity_problems} committed rows lost | - | - | - |"
    )


def count_crashes(chaos: Chaos, fuzz_crashes: int) -> dict[str, int]:
    logs = chaos.log.read_text(errors="replace") + chaos.ingest.log.read_text(errors="replace")
    return {"tracebacks in box/ingest logs": logs.count("Traceback (most recent call last)"),
            "unexpected exit statuses": len(chaos.unexpected_exits),
            "fuzz targets": fuzz_crashes}  # fmt: skip


def verdict(chaos: Chaos, result: dict[str, Any], crashes: dict[str, int]) -> list[str]:
    bad = [f"{k} {result[k]}" for k in ("lost", "lost_at_cuts", "duplicated", "unknown",
                                         "replays", "out_of_order", "jsonl_missing",
                                         "jsonl_duplicated") if result[k]]  # fmt: skip
    bad += [f"{k} {n}" for k, n in crashes.items() if n]
    bad += chaos.unexpected_exits
    if chaos.integrity_problems:
        bad.append(f"{chaos.integrity_problems} committed rows lost (listed by /healthz)")
    for kind, f in chaos.faults.items():
        if f.expect_alarm and f.shown < f.episodes:
            bad.append(f"{kind}: /healthz showed {f.shown} of {f.episodes} episodes")
        if not f.expect_alarm and f.shown:
            bad.append(f"{kind}: /healthz raised {f.shown} false alarms")
        if len(f.recover_s) < f.expect_recover:
            bad.append(f"{kind}: /healthz 200 again after {len(f.recover_s)} of "
                       f"{f.expect_recover} episodes")  # fmt: skip
    return bad


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=40, help="SIGKILLs without a power cut")
    p.add_argument("--power-cuts", type=int, default=15, help="SIGKILLs with the image copied")
    p.add_argument("--disk-full", type=int, default=4, help="ENOSPC episodes")
    p.add_argument("--broker-faults", type=int, default=8, help="taken in turn from 4 kinds")
    p.add_argument("--fuzz-cases", type=int, default=100_000, help="per receiving-side target")
    p.add_argument(
        "--fuzz-config-cases",
        type=int,
        default=20_000,
        help="config loader cases (about 80/s: 10^5 take ~20 min on two cores)",
    )
    p.add_argument("--interval-s", type=float, default=0.5, help="summary interval, scene time")
    p.add_argument("--stalled-after-s", type=float, default=3.0, help="uplink.stalled_after_s")
    p.add_argument("--seed", type=int, default=28)
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs, stores)")
    args = p.parse_args(argv)
    rigs = _rigs()
    reason = rigs.loop_unavailable()
    if reason is not None:
        print(f"chaos: cannot run: {reason}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="chaos-"))
    t0 = time.monotonic()
    fuzz_runs = start_fuzz(args, work)
    chaos = Chaos(args, work, rigs)
    try:
        chaos.kills_and_cuts()
        chaos.disk_full()
        chaos.broker_faults()
        result = chaos.figures()
    finally:
        chaos.close()
        for proc, _ in fuzz_runs:
            if sys.exc_info()[0] is not None and proc.poll() is None:
                proc.kill()
    fuzz, fuzz_crashes = fuzz_results(fuzz_runs)
    crashes = count_crashes(chaos, fuzz_crashes)
    print_table(chaos, result, fuzz, crashes, time.monotonic() - t0)
    bad = verdict(chaos, result, crashes)
    for line in bad:
        print(f"chaos: FAILED: {line}", file=sys.stderr)
    print(f"\nwork folder: {work}" if args.keep else "", file=sys.stderr)
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
