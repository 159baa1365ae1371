"""Sensor drivers. Importing this package registers every built-in sensor type."""

from carbonedge.devices.sensors import mhz19, modbus, pms5003, senseair_s8  # noqa: F401
from carbonedge.devices.sensors.base import (
    SENSORS,
    Sensor,
    SensorConfig,
    SensorReading,
    create_sensor,
)

__all__ = ["SENSORS", "Sensor", "SensorConfig", "SensorReading", "create_sensor"]
