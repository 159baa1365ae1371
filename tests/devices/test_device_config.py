"""Sources and sensors in a site config: discriminated by ``type:``, errors name the key."""

from __future__ import annotations

import pytest

from carbonedge.devices.sensors import create_sensor
from carbonedge.devices.sensors.pms5003 import Pms5003Sensor
from carbonedge.devices.sources import create_source
from carbonedge.devices.sources.rtsp import RtspSource
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.config import parse_site_config

BASE = {"device_id": "box-1", "detector": {"type": "motion"}}


def test_site_config_with_live_sources_and_sensors(monkeypatch) -> None:
    monkeypatch.setenv("CAM_PW", "pw")
    config = parse_site_config({
        **BASE,
        "cameras": {"north": {"source": {"type": "rtsp", "url": "rtsp://u:${CAM_PW}@cam/1",
                                         "transport": "udp"}}},
        "sensors": [
            {"id": "pm", "type": "pms5003", "port": "/dev/ttyAMA0"},
            {"id": "env", "type": "modbus", "host": "10.0.0.9",
             "registers": [{"name": "temperature", "address": 1, "unit": "degc"}]},
        ],
    })  # fmt: skip
    assert isinstance(create_source(config.cameras["north"].source), RtspSource)
    assert config.cameras["north"].source.url == "rtsp://u:pw@cam/1"
    sensor = create_sensor(config.sensors[0], config.device_id)
    assert isinstance(sensor, Pms5003Sensor) and sensor.device_id == "box-1"
    assert config.sensors[1].registers[0].key == "temperature_degc"


def test_sensors_default_to_none() -> None:
    config = parse_site_config({**BASE, "cameras": {"s": {"source": {"type": "synthetic"}}}})
    assert config.sensors == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"sensors": [{"id": "x", "type": "sds011", "port": "p"}]},
         r"sensors\.0: unknown type 'sds011'; expected one of .*'pms5003'"),
        ({"sensors": [{"id": "x", "port": "p"}]},
         r"sensors\.0: missing key 'type' \(one of .*'mhz19'"),
        ({"sensors": [{"id": "x", "type": "pms5003", "port": "p", "baud": 1}]},
         r"sensors\.0\.pms5003\.baud: unknown key"),
        ({"cameras": {"c": {"source": {"type": "rtsp", "url": "http://cam/1"}}}},
         r"cameras\.c\.source\.rtsp\.url: Value error, expected an rtsp://"),
        ({"cameras": {"c": {"source": {"type": "rtsp", "url": "rtsp://c/1", "transport": "quic"}}}},
         r"cameras\.c\.source\.rtsp\.transport: Input should be 'tcp' or 'udp'"),
    ],
)  # fmt: skip
def test_bad_device_config_names_the_key(extra, message) -> None:
    data = {**BASE, "cameras": {"s": {"source": {"type": "synthetic"}}}, **extra}
    with pytest.raises(ConfigError, match=message):
        parse_site_config(data, origin="site.yaml")
