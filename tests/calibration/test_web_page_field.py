"""The calibration page in the field (issue 29, item 6): phone and tablet widths, zoom, pan,
dragging what was drawn, live detections over the snapshot, "In force" right after a save.

Real ``carbonedge calibrate serve`` processes and headless Chromium (``browser_rig``); real
pointer input through the DevTools protocol (mouse, wheel, touch).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from browser_rig import Browser, Page, browser  # noqa: F401 - the fixture
from rigs import free_port, stop_process, wait_for_port

KEY = "calibration-test-key-0123456789"
SIZES = [(360, 740), (412, 915), (768, 1024)]


def _serve(folder: Path) -> tuple[subprocess.Popen, str]:
    site = folder / "site.yaml"
    site.write_text(f"""device_id: field-test
cameras:
  road:
    source: {{type: synthetic, duration_s: 600, seed: 7, vehicles_per_minute: 90}}
detector: {{type: motion}}
calibration: {{records_dir: {folder / "records"}, key: {KEY}}}
health: {{enabled: false}}
output: {{sqlite_path: {folder / "out.sqlite"}, jsonl_path: null}}
""")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "carbonedge.runtime.cli", "calibrate", "serve", str(site),
         "--source", "road", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=folder,
    )  # fmt: skip
    wait_for_port(port, timeout_s=60.0, proc=proc)
    printed = proc.stdout.readline() + proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+/\?token=\S+", printed)
    assert match, f"no URL printed: {printed!r}"
    return proc, match.group(0)


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[str]:
    proc, url = _serve(tmp_path)
    try:
        yield url
    finally:
        stop_process(proc)
        proc.stdout.close()


def _open(browser: Browser, url: str, width: int, height: int) -> Page:  # noqa: F811
    page = browser.page("about:blank")
    mobile = width < 700
    page.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )
    page.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})
    page.send("Page.navigate", {"url": url})
    assert page.wait_for("window.ceReady", timeout_s=30) is True
    return page


def _rect(page: Page, selector: str = "#canvas") -> list[float]:
    return page.eval(
        f"(() => {{ const r = document.querySelector('{selector}')"
        ".getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()"
    )


def _screen(page: Page, x_px: float, y_px: float) -> tuple[float, float]:
    """Viewport CSS pixels of image pixel (x, y), through the canvas's zoom and pan."""
    left, top, width, height = _rect(page)
    return left + x_px * width / 640, top + y_px * height / 360


def _mouse(page: Page, kind: str, x: float, y: float, **extra: object) -> None:
    page.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                           "clickCount": 1, **extra})  # fmt: skip


def _drag(page: Page, start: tuple[float, float], end: tuple[float, float], steps: int = 6) -> None:
    _mouse(page, "mouseMoved", *start, button="none")
    _mouse(page, "mousePressed", *start)
    for k in range(1, steps + 1):
        t = k / steps
        _mouse(page, "mouseMoved", start[0] + (end[0] - start[0]) * t,
               start[1] + (end[1] - start[1]) * t, buttons=1)  # fmt: skip
    _mouse(page, "mouseReleased", *end)


def _tap_image(page: Page, x_px: float, y_px: float) -> None:
    page.click_at(*_screen(page, x_px, y_px))


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_the_picture_fills_the_width_on_phones_and_tablets(
    served: str,
    browser: Browser,
    tmp_path: Path,
    width: int,
    height: int,  # noqa: F811
) -> None:
    page = _open(browser, served, width, height)
    _, _, w, h = _rect(page)
    assert w > 300 and h > 150, (w, h)  # never collapsed to 0 px
    assert w >= width * 0.9 and abs(h / w - 360 / 640) < 0.02  # full width, the image's aspect
    assert page.eval("document.documentElement.scrollWidth") <= width  # no sideways scrolling
    _, _, aside_w, _ = _rect(page, "aside")
    assert aside_w >= width * 0.9  # the panel goes below the picture
    shot = page.screenshot(tmp_path / f"calibrate-{width}x{height}.png")
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[1] == width and image.std() > 10
    # the screenshot shows the snapshot where the canvas is (the road, not a blank box)
    left, top, cw, ch = (int(v) for v in _rect(page))
    assert image[top : top + ch, left : left + cw].std() > 20


def test_drag_moves_a_line_end_and_a_ground_point_and_zoom_keeps_clicks_true(
    served: str,
    browser: Browser,  # noqa: F811
) -> None:
    page = _open(browser, served, 412, 915)
    page.eval("document.querySelector('#stage').scrollIntoView({block: 'start'})")
    _tap_image(page, 40, 200)
    _tap_image(page, 600, 200)
    assert page.eval("ceState.lines.length") == 1
    _drag(page, _screen(page, 600, 200), _screen(page, 500, 300))
    line = page.eval("ceState.lines[0]")
    assert page.eval("ceState.lines.length") == 1  # dragging made no new line
    assert abs(line["end_px"][0] - 500) < 4 and abs(line["end_px"][1] - 300) < 4, line
    assert abs(line["start_px"][0] - 40) < 2  # the other end stayed
    # ground point: place, then drag it
    page.click('[data-tool="point"]')
    page.eval("document.querySelector('#stage').scrollIntoView({block: 'start'})")
    _tap_image(page, 320, 100)
    _drag(page, _screen(page, 320, 100), _screen(page, 350, 120))
    (point,) = page.eval("ceState.points")
    assert abs(point["image_px"][0] - 350) < 4 and abs(point["image_px"][1] - 120) < 4, point
    # zoom with the button: the picture grows; a tap still lands on the right image pixel
    before = _rect(page)[2]
    page.click("#zoom-in")
    page.eval("document.querySelector('#stage').scrollIntoView({block: 'start'})")
    assert _rect(page)[2] == pytest.approx(before * 1.5, rel=0.02)
    stage = _rect(page, "#stage")
    x, y = stage[0] + stage[2] * 0.5, stage[1] + stage[3] * 0.5  # the middle of what is shown
    left, top, w, h = _rect(page)
    expect = ((x - left) * 640 / w, (y - top) * 360 / h)
    page.click_at(x, y)
    added = page.eval("ceState.points[1].image_px")
    assert abs(added[0] - expect[0]) < 2 and abs(added[1] - expect[1]) < 2
    # pan: dragging an empty part of the zoomed picture moves the view, not a point
    tx = page.eval("ceState.view.tx")
    low_y = stage[1] + stage[3] - 20
    _drag(page, (stage[0] + 20, low_y), (stage[0] + 120, low_y))
    assert page.eval("ceState.view.tx") > tx
    assert page.eval("ceState.points.length") == 2
    page.click("#zoom-reset")
    assert page.eval("ceState.view.scale") == 1


def test_wheel_and_pinch_zoom(served: str, browser: Browser) -> None:  # noqa: F811
    page = _open(browser, served, 412, 915)
    page.eval("document.querySelector('#stage').scrollIntoView({block: 'start'})")
    x, y = _screen(page, 320, 180)
    page.send(
        "Input.dispatchMouseEvent",
        {"type": "mouseWheel", "x": x, "y": y, "deltaX": 0, "deltaY": -400},
    )
    page.wait_for("ceState.view.scale > 1.5")
    page.click("#zoom-reset")
    page.eval("document.querySelector('#stage').scrollIntoView({block: 'start'})")
    x, y = _screen(page, 320, 180)

    def touch(kind: str, spread: float) -> None:
        points = (
            []
            if kind == "touchEnd"
            else [{"x": x - spread, "y": y, "id": 1}, {"x": x + spread, "y": y, "id": 2}]
        )
        page.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", 20)
    for spread in (30, 45, 60, 80):
        touch("touchMove", spread)
    touch("touchEnd", 0)
    scale = page.eval("ceState.view.scale")
    assert scale > 2.5, scale  # fingers 40 px apart, then 160: about x4
    assert page.eval("ceState.lines.length + ceState.points.length") == 0  # no stray clicks


def test_live_detections_are_drawn_over_the_snapshot_and_refresh(
    served: str,
    browser: Browser,  # noqa: F811
) -> None:
    page = _open(browser, served, 412, 915)
    page.click("#live-detections")
    page.wait_for("window.ceDetectionRounds >= 2", timeout_s=30)
    first = page.eval("ceState.detectionsFrame")
    page.wait_for(f"ceState.detectionsFrame > {first}", timeout_s=30)  # refreshed: newer frames
    page.wait_for("ceState.detections.length > 0", timeout_s=60)
    box = page.eval("ceState.detections[0]")
    assert box["class_name"] == "vehicle" and 0 < box["confidence"] <= 1
    x0, y0, x1, y1 = box["xyxy"]
    # the box's left edge, half way down, is drawn in the detection colour (orange)
    pixel = page.eval(
        "(() => { const b = ceState.detections[0].xyxy;"
        " const d = document.querySelector('#canvas').getContext('2d')"
        f".getImageData(Math.round({x0}), Math.round({(y0 + y1) / 2}), 1, 1).data;"
        " return [d[0], d[1], d[2]]; })()"
    )
    assert pixel[0] > 200 and 100 < pixel[1] < 180 and pixel[2] < 60, pixel
    page.click("#live-detections")  # off: the boxes go
    assert page.eval("ceState.detections.length") == 0


def test_after_save_the_new_record_is_in_force_at_once(served: str, browser: Browser) -> None:  # noqa: F811
    page = _open(browser, served, 360, 740)
    assert "no calibration record yet" in page.eval("document.querySelector('#current-record')"
                                                     ".textContent")  # fmt: skip
    page.eval("document.querySelector('#stage').scrollIntoView({block: 'start'})")
    _tap_image(page, 20, 216)
    _tap_image(page, 620, 216)
    page.type_into("#created-by", "Field Tech")
    for version in (1, 2):
        page.eval("window.ceSaved = null")
        page.click("#save")
        saved = page.wait_for("window.ceSaved")
        assert saved["record_id"] == f"road@v{version}"
        text = page.eval("document.querySelector('#current-record').textContent")
        assert f"In force: road@v{version}," in text and "Field Tech" in text, text
