"""Metrics (prometheus_client, one registry per Metrics) and the /metrics + /healthz server.

Every check reads the text back with prometheus_client's own parser."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from carbonedge.runtime import __version__
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.health_server import HealthConfig, HealthServer
from carbonedge.runtime.metrics import (
    SOURCE_STATES,
    STANDARD_METRICS,
    Metrics,
    cpu_temperatures_c,
)


def parse(text: str) -> dict[str, object]:
    """Family name -> prometheus_client Metric, parsed by Prometheus' own Python parser."""
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(text: str, sample_name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Label set -> value of every sample called ``sample_name``."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample_name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def get(url: str) -> tuple[int, str, str]:
    """(status, content type, body) of a GET, also for 4xx/5xx answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read().decode()


# -- the registry ---------------------------------------------------------------------------------


def test_standard_set_renders_with_help_type_and_parses_back() -> None:
    m = Metrics()
    m.inc("carbonedge_frames_total", source="north")
    m.inc("carbonedge_frames_total", 4, source="north")
    m.inc("carbonedge_crossings_total", source="north", line="stop-line")
    m.set("carbonedge_queue_depth", 3, source="north")
    m.set("carbonedge_uplink_backlog_messages", 17)
    m.set_state("carbonedge_source_state", "frozen", source="north")
    for seconds in (0.004, 0.02, 0.02, 3.0):
        m.observe("carbonedge_inference_seconds", seconds, source="north")
    text = m.render()

    for name, kind, help_text, _ in STANDARD_METRICS:
        assert f"# HELP {name} {help_text}\n" in text
        assert f"# TYPE {name} {kind}\n" in text
    families = parse(text)
    assert families["carbonedge_frames"].type == "counter"  # the parser strips _total
    assert samples(text, "carbonedge_frames_total") == {(("source", "north"),): 5.0}
    assert samples(text, "carbonedge_crossings_total") == {
        (("line", "stop-line"), ("source", "north")): 1.0
    }
    assert samples(text, "carbonedge_uplink_backlog_messages") == {(): 17.0}
    states = samples(text, "carbonedge_source_state")
    assert states[(("source", "north"), ("state", "frozen"))] == 1.0
    assert sum(states.values()) == 1.0 and len(states) == len(SOURCE_STATES)
    buckets = samples(text, "carbonedge_inference_seconds_bucket")
    by_le = {dict(k)["le"]: v for k, v in buckets.items()}
    assert by_le["0.005"] == 1 and by_le["0.025"] == 3 and by_le["2.5"] == 3 and by_le["1.0"] == 3
    assert by_le["+Inf"] == 4  # cumulative
    assert samples(text, "carbonedge_inference_seconds_count") == {(("source", "north"),): 4.0}
    total = samples(text, "carbonedge_inference_seconds_sum")[(("source", "north"),)]
    assert total == pytest.approx(3.044)


# What /metrics exposed before it was rendered by prometheus_client: family (as the parser names it,
# a counter without "_total"), type, label names. Dashboards and alerts depend on all three.
EXPOSED = [
    ("carbonedge_frames", "counter", {"source"}),
    ("carbonedge_frames_dropped", "counter", {"source"}),
    ("carbonedge_frames_skipped", "counter", {"source"}),
    ("carbonedge_detector_calls", "counter", {"source"}),
    ("carbonedge_inference_seconds", "histogram", {"source"}),
    ("carbonedge_frame_errors", "counter", {"source"}),
    ("carbonedge_queue_depth", "gauge", {"source"}),
    ("carbonedge_source_fps", "gauge", {"source"}),
    ("carbonedge_source_reconnects", "counter", {"source"}),
    ("carbonedge_source_state", "gauge", {"source", "state"}),
    ("carbonedge_uplink_backlog_messages", "gauge", set()),
    ("carbonedge_summaries", "counter", {"source"}),
    ("carbonedge_crossings", "counter", {"source", "line"}),
    ("process_resident_memory_bytes", "gauge", set()),
    ("process_cpu_seconds", "counter", set()),
    ("process_start_time_seconds", "gauge", set()),
    ("process_open_fds", "gauge", set()),
    ("carbonedge_uptime_seconds", "gauge", set()),
    ("carbonedge_build_info", "gauge", {"version"}),
]
PROCESS_HELP = {
    "process_resident_memory_bytes": "Resident memory size in bytes.",
    "process_cpu_seconds_total": "User and system CPU time spent in seconds.",
    "process_start_time_seconds": "Start time of the process since the epoch (s).",
    "process_open_fds": "Open file descriptors.",
    "carbonedge_uptime_seconds": "Seconds since the metrics registry was created.",
    "carbonedge_build_info": "Always 1; the version is a label.",
}


def test_every_name_type_label_and_help_is_kept_and_no_created_series() -> None:
    m = Metrics()
    for name, kind, _, labels in STANDARD_METRICS:  # one series of each
        values = {label: "x" for label in labels}
        if kind == "histogram":
            m.observe(name, 0.1, **values)
        else:
            m.inc(name, 2, **values)
    text = m.render()
    families = parse(text)
    for name, kind, labels in EXPOSED:
        family = families[name]
        assert family.type == kind, name
        assert family.samples, name
        assert all(set(s.labels) - {"le"} == labels for s in family.samples), name
    for name, help_text in PROCESS_HELP.items():
        assert f"# HELP {name} {help_text}\n" in text
    assert not [s for f in families.values() for s in f.samples if s.name.endswith("_created")]
    assert samples(text, "carbonedge_build_info")[(("version", __version__),)] == 1.0


def test_each_metrics_has_its_own_registry_and_the_global_one_stays_untouched() -> None:
    first, second = Metrics(), Metrics(process=False)
    first.inc("carbonedge_frames_total", 3, source="north")
    second.inc("carbonedge_frames_total", 5, source="north")
    assert samples(first.render(), "carbonedge_frames_total") == {(("source", "north"),): 3.0}
    assert samples(second.render(), "carbonedge_frames_total") == {(("source", "north"),): 5.0}
    assert "process_resident_memory_bytes" not in parse(second.render())
    assert first.value("carbonedge_frames_total", source="north") == 3.0
    assert first.value("carbonedge_frames_total", source="south") == 0.0
    first.observe("carbonedge_inference_seconds", 0.5, source="north")
    assert first.value("carbonedge_inference_seconds", source="north") == 1.0  # the count
    assert REGISTRY.get_sample_value("carbonedge_frames_total", {"source": "north"}) is None


def test_process_metrics_are_read_at_scrape_time() -> None:
    m = Metrics(standard=False)
    first = samples(m.render(), "carbonedge_uptime_seconds")[()]
    time.sleep(0.05)
    text = m.render()
    assert samples(text, "carbonedge_uptime_seconds")[()] > first
    rss = samples(text, "process_resident_memory_bytes")[()]
    assert 10 * 2**20 < rss < 64 * 2**30  # a Python process with NumPy loaded: MiB, not bytes
    assert samples(text, "process_cpu_seconds_total")[()] > 0
    assert abs(samples(text, "process_start_time_seconds")[()] - time.time()) < 86400 * 365
    temperatures = samples(text, "carbonedge_cpu_temperature_celsius")
    assert len(temperatures) == len(cpu_temperatures_c())  # absent where none is readable
    assert all(-40 < t < 150 for t in temperatures.values())


def test_cpu_temperature_reads_thermal_zones_and_skips_unreadable(tmp_path) -> None:
    (tmp_path / "thermal_zone0").mkdir()
    (tmp_path / "thermal_zone0" / "temp").write_text("48250\n")
    (tmp_path / "thermal_zone0" / "type").write_text("cpu-thermal\n")
    (tmp_path / "thermal_zone1").mkdir()
    (tmp_path / "thermal_zone1" / "temp").write_text("garbage\n")
    (tmp_path / "thermal_zone2").mkdir()  # no temp file at all
    assert cpu_temperatures_c(tmp_path) == {"cpu-thermal": 48.25}
    assert cpu_temperatures_c(tmp_path / "missing") == {}


def test_label_values_are_escaped_and_parse_back() -> None:
    m = Metrics(standard=False, process=False)
    m.define("x_total", "counter", 'Help with a \\ backslash\nand "quotes".', ("source",))
    nasty = 'cam "north"\\2\nline'
    m.inc("x_total", 2, source=nasty)
    text = m.render()
    assert '# HELP x_total Help with a \\\\ backslash\\nand "quotes".' in text
    assert samples(text, "x_total") == {(("source", nasty),): 2.0}


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda m: m.inc("nope_total"), KeyError, "not defined"),
        (lambda m: m.inc("carbonedge_frames_total", camera="x"), ValueError, "takes labels"),
        (lambda m: m.inc("carbonedge_frames_total"), ValueError, "takes labels"),
        (lambda m: m.inc("carbonedge_frames_total", -1, source="x"), ValueError, "decrease"),
        (lambda m: m.set("carbonedge_frames_total", 1, source="x"), ValueError, "not a gauge"),
        (lambda m: m.observe("carbonedge_queue_depth", 1, source="x"), ValueError, "gauge"),
        (lambda m: m.inc("carbonedge_inference_seconds", source="x"), ValueError, "observe"),
        (lambda m: m.define("carbonedge_frames_total", "gauge", "x"), ValueError, "differently"),
        (lambda m: m.define("bad name", "gauge", "x"), ValueError, "letters"),
        (lambda m: m.define("h", "histogram", "x", ("le",)), ValueError, "reserved"),
        (lambda m: m.define("frames", "counter", "x"), ValueError, "end in '_total'"),
        (lambda m: m.set_state("carbonedge_frames_total", "x", source="x"), ValueError, "gauge"),
    ],
)
def test_misuse_is_rejected_with_a_message(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call(Metrics())


def test_concurrent_updates_are_exact() -> None:
    m = Metrics()
    threads_n, per_thread = 8, 5000
    start = threading.Barrier(threads_n)

    def work(i: int) -> None:
        start.wait()
        for _ in range(per_thread):
            m.inc("carbonedge_frames_total", source="shared")
            m.inc("carbonedge_frames_total", source=f"own{i}")
            m.observe("carbonedge_inference_seconds", 0.01, source="shared")

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads_n)]
    for w in workers:
        w.start()
    while any(w.is_alive() for w in workers):
        m.render()  # scrapes during the updates must neither fail nor corrupt them
    for w in workers:
        w.join()
    text = m.render()
    frames = samples(text, "carbonedge_frames_total")
    assert frames[(("source", "shared"),)] == threads_n * per_thread
    assert all(frames[(("source", f"own{i}"),)] == per_thread for i in range(threads_n))
    count = samples(text, "carbonedge_inference_seconds_count")[(("source", "shared"),)]
    assert count == threads_n * per_thread


def test_a_failing_collector_is_logged_and_the_rest_renders(caplog) -> None:
    m = Metrics()
    m.on_scrape(lambda mm: mm.set("carbonedge_uplink_backlog_messages", 42))
    m.on_scrape(lambda mm: 1 / 0)
    text = m.render()
    assert samples(text, "carbonedge_uplink_backlog_messages") == {(): 42.0}
    assert "collector" in caplog.text


# -- the HTTP server ------------------------------------------------------------------------------


@pytest.fixture
def served():
    """A running server on a free loopback port whose health answer the test can change."""
    m = Metrics()
    state: dict[str, object] = {"report": {"status": "ok", "sources": {"north": "streaming"}}}

    def health() -> dict:
        if isinstance(state["report"], Exception):
            raise state["report"]
        return state["report"]  # type: ignore[return-value]

    server = HealthServer(m, health, port=0).start()
    yield server, m, state
    server.stop()


def test_metrics_are_scraped_over_http(served) -> None:
    server, m, _ = served
    assert server.port != 0
    m.inc("carbonedge_frames_total", 7, source="north")
    status, content_type, body = get(f"{server.url}/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    assert samples(body, "carbonedge_frames_total") == {(("source", "north"),): 7.0}
    assert "process_resident_memory_bytes" in parse(body)


def test_healthz_is_200_when_ok_and_503_otherwise(served) -> None:
    server, _, state = served
    status, content_type, body = get(f"{server.url}/healthz")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {"status": "ok", "sources": {"north": "streaming"}}
    state["report"] = {"status": "degraded", "sources": {"north": "frozen"}}
    status, _, body = get(f"{server.url}/healthz?verbose=1")
    assert status == 503 and json.loads(body)["sources"]["north"] == "frozen"
    state["report"] = {"sources": {}}  # no status at all is not healthy
    assert get(f"{server.url}/healthz")[0] == 503


def test_unknown_path_is_404(served) -> None:
    server, _, _ = served
    assert get(f"{server.url}/")[0] == 404
    assert get(f"{server.url}/metrics/extra")[0] == 404


def test_a_handler_error_answers_500_and_the_server_keeps_serving(served, caplog) -> None:
    server, _, state = served
    state["report"] = RuntimeError("health callable is broken")
    assert get(f"{server.url}/healthz")[0] == 500
    assert "health callable is broken" in caplog.text
    state["report"] = {"status": "ok"}
    assert get(f"{server.url}/healthz")[0] == 200
    assert get(f"{server.url}/metrics")[0] == 200


def test_stop_is_prompt_and_frees_the_port() -> None:
    server = HealthServer(Metrics(), lambda: {"status": "ok"}, port=0).start()
    port = server.port
    assert get(f"{server.url}/healthz")[0] == 200
    t0 = time.monotonic()
    server.stop()
    assert time.monotonic() - t0 < 1.5
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
    again = HealthServer(Metrics(), lambda: {"status": "ok"}, port=port).start()  # port reusable
    again.stop()


def test_port_in_use_is_a_config_error() -> None:
    with HealthServer(Metrics(), lambda: {"status": "ok"}, port=0) as first:
        with pytest.raises(
            ConfigError, match=f"health.port: cannot listen on 127.0.0.1:{first.port}"
        ):
            HealthServer(Metrics(), lambda: {"status": "ok"}, port=first.port).start()


def test_health_config_and_site_config_section() -> None:
    from carbonedge.runtime.config import parse_site_config

    assert HealthServer.from_config(HealthConfig(enabled=False), Metrics(), dict) is None
    site = {
        "device_id": "b",
        "cameras": {"s": {"source": {"type": "synthetic"}}},
        "detector": {"type": "motion"},
    }
    assert parse_site_config(site).health == HealthConfig()
    config = parse_site_config({**site, "health": {"port": 0, "host": "0.0.0.0"}})
    assert (config.health.port, config.health.host, config.health.enabled) == (0, "0.0.0.0", True)
    with pytest.raises(ConfigError, match="health.prot: unknown key"):
        parse_site_config({**site, "health": {"prot": 1}})
    with pytest.raises(
        ConfigError, match="health.port: Input should be less than or equal to 65535"
    ):
        parse_site_config({**site, "health": {"port": 70000}})
