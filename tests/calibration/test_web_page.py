"""The technician page (``carbonedge calibrate serve``) in real headless Chromium, and its API.

The browser test drives the page with real mouse and keyboard input over CDP: on the synthetic
road's snapshot it draws a counting line, a zone, an exclusion mask and a sky mask, clicks ground
points whose metres come from the scene's exact camera, fits (first with too few points: the
server's message is shown), saves a signed record, takes a screenshot, and then runs the site,
which counts on the line drawn. The HTTP tests check the token and the messages bad input gets,
without a browser.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from browser_rig import Browser, Page, browser  # noqa: F401 - the fixture
from rigs import free_port, stop_process, wait_for_port

from carbonedge.devices.sources._synthetic_geometry import camera_matrix, project
from carbonedge.devices.sources.synthetic import SyntheticScene, SyntheticSceneConfig
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.calibrate.active import record_store_for
from carbonedge.runtime.calibrate.web.auth import load_or_create_token
from carbonedge.runtime.calibrate.web.server import make_server
from carbonedge.runtime.calibrate.web.session import CalibrationSession
from carbonedge.runtime.config import load_site_config
from carbonedge.runtime.site import run_site

KEY = "calibration-test-key-0123456789"
WIDTH_PX, HEIGHT_PX = 640, 360
# ground points the technician "measured" (X across, Y along the road, metres)
GROUND_M = [(-6.0, 17.0), (6.0, 17.0), (-6.0, 25.0), (6.0, 25.0), (-4.0, 34.0), (4.0, 34.0)]


def write_site(folder: Path) -> Path:
    """A site with the synthetic road, no lines of its own, and a calibration records folder."""
    path = folder / "site.yaml"
    path.write_text(
        f"""device_id: calib-test
cameras:
  road:
    source: {{type: synthetic, duration_s: 30, seed: 7}}
detector: {{type: motion}}
calibration:
  records_dir: {folder / "records"}
  key: {KEY}
summary: {{interval_s: 60}}
health: {{enabled: false}}
output:
  sqlite_path: {folder / "out.sqlite"}
  jsonl_path: {folder / "summaries.jsonl"}
"""
    )
    return path


@pytest.fixture()
def served_cli(tmp_path: Path):
    """``carbonedge calibrate serve`` as a process; yields (site path, URL with the token)."""
    site = write_site(tmp_path)
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "carbonedge.runtime.cli", "calibrate", "serve", str(site),
         "--source", "road", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=log, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        wait_for_port(port, timeout_s=60.0, proc=proc)
        printed = proc.stdout.readline() + proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+/\?token=\S+", printed)
        assert match, f"no URL printed: {printed!r}, log: {(tmp_path / 'serve.log').read_text()}"
        yield site, match.group(0)
    finally:
        stop_process(proc)
        proc.stdout.close()
        log.close()


@pytest.fixture()
def served(tmp_path: Path):
    """The same server in this process (faster); yields (base URL, token, records dir)."""
    config = load_site_config(write_site(tmp_path))
    store = record_store_for(config)
    token = load_or_create_token(None, store.root)
    camera = config.cameras["road"]
    session = CalibrationSession(camera.source, store, camera=camera)
    server = make_server(session, token, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", token, store.root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def request(url: str, body: object = None, headers: dict | None = None, raw: bytes | None = None):
    """(status, parsed JSON or bytes) of a GET, or a POST when ``body``/``raw`` is given."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers=dict(headers or {}))
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            status, payload, kind = response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        status, payload, kind = exc.code, exc.read(), exc.headers
    return status, json.loads(payload) if kind.get_content_type() == "application/json" else payload


def ground_px() -> list[tuple[float, float]]:
    """Where GROUND_M appears in the synthetic scene's image (its exact camera)."""
    world = np.array([(x, y, 0.0) for x, y in GROUND_M])
    return [tuple(p) for p in project(camera_matrix(WIDTH_PX, HEIGHT_PX), world)]


def click_image(page: Page, x_px: float, y_px: float) -> None:
    """A real mouse click on the canvas at image pixel (x, y), through its on-screen scale."""
    left, top, width, height = page.eval(
        "(() => { const r = document.querySelector('#canvas').getBoundingClientRect();"
        " return [r.left, r.top, r.width, r.height]; })()"
    )
    page.click_at(left + x_px * width / WIDTH_PX, top + y_px * height / HEIGHT_PX)


def test_page_draws_fits_saves_and_the_record_drives_a_run(
    browser: Browser,
    served_cli,
    tmp_path: Path,  # noqa: F811
) -> None:
    site, url = served_cli
    page = browser.page(url)
    assert page.wait_for("window.ceReady") is True
    assert page.eval("location.search") == "", "the token must leave the address bar"
    # Step 1: a counting line across the road (drawn left to right: moving down counts "in").
    page.click('[data-tool="line"]')
    click_image(page, 20, 216)
    click_image(page, 620, 216)
    # Step 2: an entry/exit zone over the far band, and an exclusion mask on the grass.
    page.click('[data-tool="zone"]')
    for x, y in [(60, 120), (580, 120), (600, 170), (40, 170)]:
        click_image(page, x, y)
    page.eval("document.querySelector('#zone-movement').value = 'both'")
    page.click("#finish-polygon")
    page.click('[data-tool="exclusion"]')
    for x, y in [(5, 5), (60, 5), (5, 60)]:
        click_image(page, x, y)
    page.click("#finish-polygon")
    page.click('[data-tool="sky"]')  # a forest camera's sky; here a strip at the top
    for x, y in [(0.5, 0.5), (639.5, 0.5), (639.5, 20), (0.5, 20)]:
        click_image(page, x, y)
    page.click("#finish-polygon")
    # Step 3: ground points; fitting with only 3 shows the server's message, not a crash.
    page.click('[data-tool="point"]')
    targets = ground_px()
    for k, ((x_px, y_px), (x_m, y_m)) in enumerate(zip(targets, GROUND_M, strict=True)):
        click_image(page, x_px, y_px)
        page.type_into(f"#points tbody tr:nth-child({k + 1}) .world-x", str(x_m))
        page.type_into(f"#points tbody tr:nth-child({k + 1}) .world-y", str(y_m))
        if k == 2:
            page.click("#fit")
            message = page.wait_for("document.querySelector('#error').textContent")
            assert "at least 4 point pairs (got 3)" in message
    page.click("#fit")
    page.wait_for("!!document.querySelector('#verdict')")
    assert page.eval("document.querySelector('#verdict').textContent") == "PASS", page.eval(
        "JSON.stringify([ceState.points, ceState.fit && ceState.fit.reason])"
    )
    fit = page.eval("ceState.fit")
    assert fit["verdict"] == "pass" and len(fit["grid_px"]) > 10
    assert max(fit["per_point_error_m"]) < 0.3 and max(fit["loo_error_m"]) < 1.0
    assert page.eval("document.querySelector('#error').hidden") is True
    # Step 4: save, and look at the page.
    page.type_into("#created-by", "Test Technician")
    page.click("#save")
    saved = page.wait_for("window.ceSaved")
    assert saved["record_id"] == "road@v1"
    assert "Saved road@v1" in page.eval("document.querySelector('#save-result').textContent")
    shot = page.screenshot(tmp_path / "calibration-page.png")
    page.eval("window.oldPage = true")
    page.send("Page.reload")  # the page starts from the record in force
    page.wait_for("!window.oldPage && window.ceReady === true")
    assert "road@v1" in page.eval("document.querySelector('#current-record').textContent")
    assert page.eval("[ceState.lines.length, ceState.zones.length, ceState.points.length]") == [
        1,
        1,
        6,
    ]
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[0] > 300 and image.std() > 10  # not a blank page
    # Step 5: the signed record holds what was drawn, with the snapshot.
    store = record_store_for(load_site_config(site))
    record = store.current("road")
    assert record is not None and record.created_by == "Test Technician"
    (line,) = record.lines
    assert abs(line.start_px[1] - 216) < 1.5 and abs(line.end_px[0] - 620) < 1.5
    (zone,) = record.zones
    assert zone.movement == "both" and len(zone.polygon_px) == 4
    assert len(record.exclusion_masks_px) == 1 and len(record.sky_mask_px) == 4
    assert record.ground_plane is not None and record.homography_fit["verdict"] == "pass"
    assert record.sets == ("lines", "zones", "exclusion_masks_px", "sky_mask_px", "ground_plane")
    assert store.snapshot_path(record) is not None
    h = np.asarray(record.ground_plane.image_to_world)
    q = np.c_[np.asarray(targets), np.ones(len(targets))] @ h.T
    assert np.abs(q[:, :2] / q[:, 2:] - np.asarray(GROUND_M)).max() < 0.3
    # Step 6: the record drives a run: the site has no lines of its own, the record's line counts.
    (result,) = run_site(load_site_config(site), max_frames=300)
    assert result.error is None and result.frames == 300
    assert result.crossings > 0
    summaries = [json.loads(x) for x in (tmp_path / "summaries.jsonl").read_text().splitlines()]
    assert summaries and all(s["calibration_id"] == "road@v1" for s in summaries)
    # the line drawn at y = 216 px counts what the scene's ground truth says crossed it
    truth = SyntheticScene(SyntheticSceneConfig(id="road", duration_s=30, seed=7)).ground_truth
    crossed = [d for _, d, t_s in truth.crossings(216.0) if t_s < 300 / 15.0]
    counted = {
        d: sum(sum(s["counts"]["line1"][d].values()) for s in summaries) for d in ("in", "out")
    }
    assert abs(counted["in"] - crossed.count("down")) <= 1, (counted, crossed)
    assert abs(counted["out"] - crossed.count("up")) <= 1, (counted, crossed)


def test_missing_or_wrong_token_is_refused(served) -> None:
    base, token, records = served
    assert request(f"{base}/")[0] == 401
    assert request(f"{base}/api/state")[0] == 401
    assert request(f"{base}/static/app.js")[0] == 401
    assert request(f"{base}/?token=not-the-token")[0] == 403
    assert request(f"{base}/api/state", headers={"Cookie": "carbonedge_calibrate=guess"})[0] == 403
    status, payload = request(
        f"{base}/api/save", {"created_by": "x"}, headers={"Authorization": "Bearer " + "x" * 43}
    )
    assert (status, payload) == (403, {"error": "wrong token"})
    assert not (records / "road").exists()  # nothing was saved
    status, state = request(f"{base}/api/state", headers={"X-Carbonedge-Token": token})
    assert status == 200 and state["image_size_px"] == [WIDTH_PX, HEIGHT_PX]
    status, png = request(
        f"{base}/api/snapshot.png", headers={"Cookie": f"carbonedge_calibrate={token}"}
    )
    assert status == 200 and png.startswith(b"\x89PNG")


def _points(pixels, metres) -> list[dict]:
    return [{"image_px": p, "world_m": m} for p, m in zip(pixels, metres, strict=True)]


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("fit", {"ground_points": _points(ground_px()[:3], GROUND_M[:3])}, 400,
         "at least 4 point pairs (got 3)"),
        ("fit", {"ground_points": _points([(10, 10), (20, 20), (30, 30), (40, 40), (50, 50)],
                                          GROUND_M[:5])}, 400, "all lie on one line"),
        ("fit", {"ground_points": _points([*ground_px()[:4], (700, 100)], GROUND_M[:5])}, 400,
         "point 5: image_px (700, 100) is outside the 640x360 image"),
        ("fit", {"ground_points": [{"image_px": [1, 2]}]}, 400,
         "ground_points.0.world_m: Field required"),
        ("fit", {"points": []}, 400, "points: unknown key"),
        ("save", {"created_by": "t", "snapshot_sha256": "0" * 64, "ground_points": []}, 400,
         "older snapshot"),
        ("save", {"created_by": "t", "snapshot_sha256": "SNAP",
                  "ground_points": _points(ground_px()[:4], [*GROUND_M[:3], (6.0, 29.0)])},
         400, "fit fails (the 4 points disagree with any camera"),
        ("save", {"created_by": "t", "snapshot_sha256": "SNAP", "ground_points": [],
                  "lines": [{"id": "a", "start_px": [0, 10], "end_px": [900, 10]}]}, 400,
         "line 'a': point (900, 10) is outside the 640x360 image"),
        ("save", {"created_by": "t", "snapshot_sha256": "SNAP", "ground_points": [],
                  "zones": [{"id": "z", "polygon_px": [[0, 0], [5, 5]]}]}, 400,
         "zones.0.polygon_px: List should have at least 3 items"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_clear_message(served, path, body, status, message) -> None:
    base, token, records = served
    auth = {"X-Carbonedge-Token": token}
    if body.get("snapshot_sha256") == "SNAP":
        body = {
            **body,
            "snapshot_sha256": request(f"{base}/api/state", headers=auth)[1]["snapshot_sha256"],
        }
    got_status, payload = request(f"{base}/api/{path}", body, headers=auth)
    assert got_status == status and message in payload["error"], payload
    assert not (records / "road").exists()


def test_requests_that_are_not_json_are_refused(served) -> None:
    base, token, _ = served
    auth = {"X-Carbonedge-Token": token}
    status, payload = request(f"{base}/api/fit", raw=b"ground_points=1", headers=auth)
    assert status == 415 and "application/json" in payload["error"]
    auth["Content-Type"] = "application/json"
    status, payload = request(f"{base}/api/fit", raw=b"{not json", headers=auth)
    assert status == 400 and "not valid JSON" in payload["error"]
    assert request(f"{base}/api/fit", headers=auth)[0] == 405
    assert request(f"{base}/static/../server.py", headers=auth)[0] == 404


def test_the_token_is_generated_once_private_and_checked(tmp_path: Path) -> None:
    records = tmp_path / "records"
    token = load_or_create_token(None, records)
    path = records / "web-token"
    assert len(token) >= 32 and path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_token(None, records) == token
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"readable by other users \(mode 0644\).*chmod 600"):
        load_or_create_token(None, records)
    with pytest.raises(ConfigError, match="nowhere/token: calibration.token_file not found"):
        load_or_create_token(tmp_path / "nowhere" / "token", records)
    short = tmp_path / "short"
    short.write_text("abc\n")
    short.chmod(0o600)
    with pytest.raises(ConfigError, match="at least 16 characters"):
        load_or_create_token(short, records)


def test_rectangle_helper_fills_metres_from_lane_width_and_dash_length(
    browser: Browser,
    served,  # noqa: F811
) -> None:
    """Two lane-wide dashes (3.5 m x 3 m, 9 m apart): 8 clicks, no tape measure, a passing fit."""
    base, token, _ = served
    page = browser.page(f"{base}/?token={token}")
    assert page.wait_for("window.ceReady") is True
    page.click('[data-tool="point"]')
    page.eval("document.querySelector('#rect-helper').open = true")
    page.type_into("#rect-width-m", "3.5")
    page.type_into("#rect-length-m", "3")
    camera = camera_matrix(WIDTH_PX, HEIGHT_PX)
    for offset_m, near_y_m in ((0.0, 24.0), (9.0, 33.0)):  # dashes start every 9 m from -3 m
        corners = [(0.0, near_y_m), (3.5, near_y_m), (3.5, near_y_m + 3), (0.0, near_y_m + 3)]
        for x_px, y_px in project(camera, np.array([(x, y, 0.0) for x, y in corners])):
            click_image(page, x_px, y_px)
        page.type_into("#rect-offset-m", str(offset_m))
        page.click("#rect-fill")
    world = page.eval("ceState.points.map((p) => p.world_m)")
    assert world == [[0, 0], [3.5, 0], [3.5, 3], [0, 3], [0, 9], [3.5, 9], [3.5, 12], [0, 12]]
    page.click("#fit")
    assert page.wait_for("document.querySelector('#verdict')?.textContent") == "PASS"


def test_a_tampered_record_is_not_offered_the_previous_one_stays(served) -> None:
    base, token, records = served
    auth = {"X-Carbonedge-Token": token}
    snapshot = request(f"{base}/api/state", headers=auth)[1]["snapshot_sha256"]
    for line_y in (200, 220):
        line = {"id": "main", "start_px": [0, line_y], "end_px": [640, line_y]}
        body = {
            "created_by": "t",
            "snapshot_sha256": snapshot,
            "ground_points": [],
            "lines": [line],
        }
        assert request(f"{base}/api/save", body, headers=auth)[0] == 200
    assert request(f"{base}/api/state", headers=auth)[1]["current"]["version"] == 2
    v2 = records / "road" / "v0002.json"
    text = v2.read_text()
    assert '"start_px":[0.0,220.0]' in text
    v2.write_text(text.replace('"start_px":[0.0,220.0]', '"start_px":[0.0,230.0]'))
    current = request(f"{base}/api/state", headers=auth)[1]["current"]
    assert current["version"] == 1 and current["lines"][0]["start_px"] == [0.0, 200.0]


def test_the_page_starts_from_the_config_and_a_save_removes_a_config_line(tmp_path: Path) -> None:
    """Without a record the page shows the camera's config lines; a record saved without them
    sets ``lines`` empty, so the config's line is gone at run time (a record can remove it)."""
    from carbonedge.runtime.calibrate.overlay import overlay_record

    site = write_site(tmp_path)
    text = site.read_text().replace(
        "    source: {type: synthetic, duration_s: 30, seed: 7}\n",
        "    source: {type: synthetic, duration_s: 30, seed: 7}\n"
        "    lines: [{id: yaml-line, start_px: [0, 200], end_px: [640, 200]}]\n"
        "    masks: [[[0, 0], [30, 0], [0, 30]]]\n",
    )
    site.write_text(text)
    config = load_site_config(site)
    camera, store = config.cameras["road"], record_store_for(config)
    session = CalibrationSession(camera.source, store, camera=camera)
    state = session.state()
    assert state["current"] is None
    assert [x["id"] for x in state["in_force"]["lines"]] == ["yaml-line"]
    assert state["in_force"]["exclusion_masks_px"] == [[[0, 0], [30, 0], [0, 30]]]
    zone = {"id": "q", "polygon_px": [[0, 0], [50, 0], [50, 50]]}
    body = {
        "created_by": "t",
        "snapshot_sha256": state["snapshot_sha256"],
        "ground_points": [],
        "zones": [zone],
        "exclusion_masks_px": state["in_force"]["exclusion_masks_px"],
    }
    assert session.save(body)["record_id"] == "road@v1"
    record = store.current("road")
    assert record.sets == ("lines", "zones", "exclusion_masks_px", "sky_mask_px")
    running = overlay_record(camera, record)
    assert running.lines == [] and [z.id for z in running.zones] == ["q"]
    assert running.ground_plane is None and len(running.masks) == 1
    after = session.state()["in_force"]
    assert after["lines"] == [] and [z["id"] for z in after["zones"]] == ["q"]


def test_a_50000_deep_json_body_is_a_400_not_a_500(served) -> None:
    base, token, _ = served
    auth = {"X-Carbonedge-Token": token, "Content-Type": "application/json"}
    status, payload = request(f"{base}/api/fit", raw=b"[" * 50_000 + b"]" * 50_000,
                              headers=auth)  # fmt: skip
    assert status == 400, payload
    assert payload["error"] == "the body is not valid JSON: nested too deeply"
