"""UART sensor drivers over a real socat pty pair, against a test writer speaking the protocol."""

from __future__ import annotations

import threading
import time
from typing import Callable

import pytest
import serial
from device_rigs import pty_pair  # noqa: F401 - pytest fixture

from carbonedge.devices.health import DeviceState
from carbonedge.devices.sensors import create_sensor, mhz19, pms5003, senseair_s8
from carbonedge.devices.sensors.mhz19 import Mhz19Config
from carbonedge.devices.sensors.pms5003 import Pms5003Config
from carbonedge.devices.sensors.senseair_s8 import SenseAirS8Config

FAST = {"stall_after_s": 0.8, "reconnect_after_s": 1.5, "backoff_initial_s": 0.1,
        "backoff_max_s": 0.5}  # fmt: skip


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> float:
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout_s:
            pytest.fail(f"{what}: not within {timeout_s} s")
        time.sleep(0.02)
    return time.monotonic() - t0


def readings_until(sensor, key: str, last_value: float, timeout_s: float = 10.0) -> list[float]:
    """Values of ``key`` read until ``last_value`` arrives."""
    values: list[float] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reading = sensor.read(timeout_s=0.2)
        if reading is not None:
            values.append(reading.values[key])
            if values[-1] == last_value:
                return values
    pytest.fail(f"{key}={last_value} never arrived; got {values}")


def pms(pm2_5: int) -> bytes:
    return pms5003.encode_frame({"pm2_5_ugm3": pm2_5, "pm10_ugm3": pm2_5 + 5})


def test_pms5003_skips_bad_frames_reports_stall_and_recovers(pty_pair) -> None:
    good = pms(10)
    bad_checksum = good[:-1] + bytes([good[-1] ^ 0xFF])
    bad_length = good[:2] + b"\x00\x14" + good[4:]
    garbage = bytes(range(0x40, 0x60)) * 3  # holds 0x42 0x4D-like noise and 0x42 alone
    stream = [pms(10), garbage, bad_checksum, good[:17], pms(11), bad_length, b"\x42",
              pms(12)]  # fmt: skip
    sensor = create_sensor(Pms5003Config(id="pm", port=str(pty_pair.device), **FAST), "box-1")
    with serial.Serial(str(pty_pair.test), 9600, timeout=0.1) as writer, sensor:
        time.sleep(0.3)  # the driver opens its end
        for chunk in stream:
            writer.write(chunk)
            time.sleep(0.05)
        assert readings_until(sensor, "pm2_5_ugm3", 12) == [10, 11, 12]
        # the sensor stops talking: stalled, then the driver reopens the port (timeouts reconnect)
        stalled_s = wait_for(lambda: sensor.state == DeviceState.STALLED, 5, "stalled")
        wait_for(lambda: sensor.health.counter("reconnects") >= 1, 5, "reconnected")
        writer.write(pms(13))
        time.sleep(0.3)
        for n in (14, 15):  # a reopened port may miss what was written while it was closed
            writer.write(pms(n))
            time.sleep(0.1)
        assert readings_until(sensor, "pm2_5_ugm3", 15)[-1] == 15
        assert sensor.state == DeviceState.STREAMING
        snapshot = sensor.health.snapshot()
    print(
        f"\nPMS5003 stalled {stalled_s:.2f} s after the last frame; counters {snapshot['counters']}"
    )
    counters = snapshot["counters"]
    assert counters["checksum_errors"] >= 2  # the flipped checksum and the truncated frame
    assert counters["malformed_frames"] >= 1  # the impossible length
    assert counters["skipped_bytes"] >= len(garbage)
    assert counters["timeouts"] >= 1


@pytest.mark.parametrize(
    ("config_cls", "request_bytes", "encode", "exception_reply"),
    [
        (SenseAirS8Config, senseair_s8.REQUEST, senseair_s8.encode_response,
         senseair_s8.with_crc16(bytes([0xFE, 0x84, 0x02]))),
        (Mhz19Config, mhz19.REQUEST, mhz19.encode_response, None),
    ],
    ids=["senseair_s8", "mhz19"],
)  # fmt: skip
def test_polled_co2_sensor_over_pty(pty_pair, config_cls, request_bytes, encode,
                                    exception_reply) -> None:  # fmt: skip
    """A responder answers requests from a script: good, corrupt, truncated, garbage, silence."""
    good = encode(400)
    script: list[bytes | None] = [
        encode(400), good[:-1] + bytes([good[-1] ^ 0x55]), good[:3],
        b"\x00\xfe\xff\x13" + encode(410), exception_reply or b"\xff\xff\xff", encode(420),
    ] + [None] * 12 + [encode(430)] * 200  # fmt: skip
    requests_ok: list[bool] = []
    stop = threading.Event()

    def responder(port: serial.Serial) -> None:
        step = 0
        while not stop.is_set():
            request = port.read(len(request_bytes))
            if len(request) < len(request_bytes):
                continue
            requests_ok.append(request == request_bytes)
            reply = script[min(step, len(script) - 1)]
            step += 1
            if reply is not None:
                port.write(reply)

    config = config_cls(id="co2", port=str(pty_pair.device), interval_s=0.15, **FAST)
    with serial.Serial(str(pty_pair.test), 9600, timeout=0.1) as port:
        thread = threading.Thread(target=responder, args=(port,), daemon=True)
        thread.start()
        try:
            with create_sensor(config, "box-1") as sensor:
                first = readings_until(sensor, "co2_ppm", 420)
                stalled_s = wait_for(lambda: sensor.state == DeviceState.STALLED, 5, "stalled")
                assert readings_until(sensor, "co2_ppm", 430)[-1] == 430
                assert sensor.state == DeviceState.STREAMING
                counters = sensor.health.snapshot()["counters"]
        finally:
            stop.set()
            thread.join(2)
    print(f"\n{config.type}: stalled {stalled_s:.2f} s after the sensor went silent; {counters}")
    assert first == [400, 410, 420]
    assert requests_ok and all(requests_ok)
    assert counters["checksum_errors"] >= 2 and counters["skipped_bytes"] > 0
    if exception_reply is not None:
        assert counters["malformed_frames"] >= 1  # the Modbus exception answer


def test_unplugged_adapter_is_retried_until_it_comes_back(pty_pair) -> None:
    """socat killed = USB-serial adapter gone (the port vanishes); restarted = plugged back."""
    sensor = create_sensor(Pms5003Config(id="pm", port=str(pty_pair.device), **FAST), "box-1")
    with sensor:
        with serial.Serial(str(pty_pair.test), 9600) as writer:
            time.sleep(0.3)
            writer.write(pms(20))
            assert readings_until(sensor, "pm2_5_ugm3", 20) == [20]
        pty_pair.stop()
        wait_for(lambda: sensor.state in (DeviceState.CONNECTING, DeviceState.STALLED), 5, "lost")
        wait_for(lambda: sensor.health.counter("connect_errors") >= 1, 5, "port missing noticed")
        pty_pair.start()
        with serial.Serial(str(pty_pair.test), 9600) as writer:
            deadline = time.monotonic() + 10
            while sensor.state != DeviceState.STREAMING and time.monotonic() < deadline:
                writer.write(pms(21))
                time.sleep(0.2)
            assert readings_until(sensor, "pm2_5_ugm3", 21)[-1] == 21
    assert sensor.state == DeviceState.CLOSED


def test_reading_is_an_event_with_units_and_a_stable_id(pty_pair) -> None:
    sensor = create_sensor(Pms5003Config(id="pm", port=str(pty_pair.device)), "box-1")
    with serial.Serial(str(pty_pair.test), 9600) as writer, sensor:
        time.sleep(0.3)
        writer.write(pms(7))
        reading = sensor.read(timeout_s=5)
    assert reading is not None
    assert (reading.device_id, reading.sensor_id) == ("box-1", "pm")
    assert reading.values["pm2_5_ugm3"] == 7 and reading.values["pm10_ugm3"] == 12
    assert abs(reading.t_wall_s - time.time()) < 10 and reading.t_mono_s <= time.monotonic()
    again = type(reading)(reading.device_id, reading.sensor_id, reading.t_wall_s,
                          reading.t_mono_s, reading.values)  # fmt: skip
    assert again.id == reading.id
    assert reading.to_dict()["kind"] == "sensor_reading"
    with pytest.raises(AttributeError):
        reading.sensor_id = "other"  # type: ignore[misc]
