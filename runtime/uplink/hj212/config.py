"""``hj212:`` section of a site config: where the platform is, who the box is, what it uploads.

Defaults follow HJ 212-2017: 10 s over-time (超时时间) and 3 re-sends (重发次数) (Table 1), a
real-time interval of 30-3600 s (CN 1062), Flag=5 uploads that want a 9014 answer. Factor codes
come from App. B Table B.2; vehicle counts and traffic emission estimates have no code in the
standard, so the ``ce....`` defaults below are ours (the table is 可扩充, extensible): agree them
with each platform and override them in ``codes`` / ``vehicle_codes`` / ``emission_codes``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_CODE = r"^[A-Za-z0-9]{1,16}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FactorCode(_Strict):
    """One sensor value (``pm2_5_ugm3``) as an HJ 212 factor: ``code``, value = raw * ``scale``."""

    code: str = Field(pattern=_CODE, description="the HJ 212 factor code (e.g. a34004)")
    scale: float = Field(1.0, gt=0, description="unit conversion, e.g. ppm CO2 -> mg/m3")
    decimals: int = Field(3, ge=0, le=6, description="decimals written")
    upper_limit: float | None = Field(
        None, description="measuring range top (converted unit): above it the flag is T"
    )


# mg/m3 per ppm at 25 degC and 101.325 kPa (molar volume 24.465 L/mol): M / 24.465
_PPM_CO2_TO_MGM3 = 44.01 / 24.465
_PPM_CO_TO_MGM3 = 28.01 / 24.465

#: sensor value name (devices/sensors/: ``<name>_<unit>``) -> factor (App. B Table B.2)
DEFAULT_CODES: dict[str, FactorCode] = {
    "pm2_5_ugm3": FactorCode(code="a34004", decimals=1),
    "pm10_ugm3": FactorCode(code="a34002", decimals=1),
    "pm1_0_ugm3": FactorCode(code="a34005", decimals=1),
    "tsp_ugm3": FactorCode(code="a34001", decimals=1),
    "co2_ppm": FactorCode(code="a05001", scale=_PPM_CO2_TO_MGM3, decimals=1),
    "co2_mgm3": FactorCode(code="a05001", decimals=1),
    "co_ppm": FactorCode(code="a21005", scale=_PPM_CO_TO_MGM3, decimals=3),
    "co_mgm3": FactorCode(code="a21005", decimals=3),
    "nox_mgm3": FactorCode(code="a21002", decimals=3),
    "no_mgm3": FactorCode(code="a21003", decimals=3),
    "no2_mgm3": FactorCode(code="a21004", decimals=3),
    "so2_mgm3": FactorCode(code="a21026", decimals=3),
    "temperature_degc": FactorCode(code="a01001", decimals=1),
    "humidity_pct": FactorCode(code="a01002", decimals=1),
    "pressure_kpa": FactorCode(code="a01006", decimals=3),
    "wind_speed_ms": FactorCode(code="a01007", decimals=1),
    "wind_direction_deg": FactorCode(code="a01008", decimals=0),
}

#: detector class (or "total") -> our code for vehicle counts (-Cou, vehicles in the period)
DEFAULT_VEHICLE_CODES: dict[str, str] = {
    "total": "ce1000", "car": "ce1001", "van": "ce1002", "bus": "ce1003", "truck": "ce1004",
    "motorcycle": "ce1005", "bus_or_truck": "ce1006", "vehicle": "ce1009",
    "hgv": "ce1004",  # road-v1's heavy goods vehicle: the truck code
}  # fmt: skip
# road-v1's bicycle and pedestrian have no code: they are not motor vehicles (not in "total")

#: pollutant of the traffic emission estimate -> our code (-Cou, kilograms in the period)
DEFAULT_EMISSION_CODES: dict[str, str] = {
    "co2": "ce2001", "nox": "ce2002", "pm25": "ce2003", "co": "ce2004",
}  # fmt: skip


class Hj212Config(_Strict):
    """The box as an HJ 212 field unit (现场机) talking to one platform (上位机) over TCP."""

    host: str = Field(min_length=1, description="platform host name or address")
    port: int = Field(ge=1, le=65535, description="platform TCP port")
    mn: str = Field(pattern=r"^[0-9A-Fa-f]{24}$", description="EPC-96 device code, 24 hex")
    pw: str = Field(pattern=r"^[\x21-\x7e]{6}$", description="6-character access password")
    st: str = Field("22", pattern=r"^[0-9A-Z]{2}$", description="22 air quality, 31 source")
    version: Literal["2017"] = Field("2017", description="2025 is a setting still to implement")
    timezone: str = Field("Asia/Shanghai", description="DataTime and QN are platform local time")
    ack: bool = Field(True, description="uploads ask for a 9014 answer (Flag A bit)")
    overtime_s: float = Field(10.0, gt=0, le=99, description="OverTime; CN 1000 changes it")
    retries: int = Field(3, ge=0, le=99, description="ReCount re-sends; CN 1000 changes it")
    realtime_interval_s: float = Field(
        60.0, ge=1, le=3600, description="CN 2011 period (the platform sets 30-3600 by CN 1062)"
    )
    realtime: bool = Field(True, description="send CN 2011 real-time data")
    realtime_max_age_s: float = Field(
        180.0, gt=0, le=86400, description="sensor data older than this is not sent as real-time"
    )
    minute_interval_s: int = Field(60, ge=60, le=1800, description="CN 2051 period")
    hourly: bool = Field(True, description="send CN 2061 when an hour closes")
    daily: bool = Field(True, description="send CN 2031 when a day closes")
    close_grace_s: float = Field(
        15.0, ge=0, le=3600, description="wait this long after a period ends for late summaries"
    )
    poll_s: float = Field(1.0, gt=0, le=60, description="how often the store is checked")
    reconnect_min_s: float = Field(
        1.0,
        gt=0,
        le=600,
        description="first wait before reconnecting (doubles up to reconnect_max_s)",
    )
    reconnect_max_s: float = Field(
        120.0,
        gt=0,
        le=3600,
        description="longest wait between reconnection attempts",
    )
    max_data_len: int = Field(1024, ge=200, le=1024, description="split longer data segments")
    time_sync: Literal["record", "system"] = Field(
        "record", description="CN 1012: record the offset, or set the system clock (root)"
    )
    maintenance_file: Path | None = Field(
        None, description="while this file exists, every flag is M (technician on site)"
    )
    codes: dict[str, FactorCode] = Field(default_factory=dict, description="added/overridden")
    vehicle_codes: dict[str, str] = Field(
        default_factory=dict,
        description="vehicle class -> HJ 212 factor code for counts",
    )
    vehicle_lines: list[str] | None = Field(
        None, description="line ids whose crossings count as vehicles (default: every line)"
    )
    emission_codes: dict[str, str] = Field(
        default_factory=dict,
        description="pollutant -> HJ 212 factor code for emissions",
    )

    @model_validator(mode="after")
    def _check(self) -> Hj212Config:
        if set(self.pw) & set(";,=&"):
            raise ValueError("pw must not contain ';', ',', '=' or '&' (they delimit fields)")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        if 86400 % self.minute_interval_s or self.minute_interval_s % 60:
            raise ValueError("minute_interval_s must be whole minutes that divide a day")
        for name, code in {**self.vehicle_codes, **self.emission_codes}.items():
            if not code or not code.isalnum() or len(code) > 16:
                raise ValueError(f"code for {name!r} must be 1-16 letters/digits, got {code!r}")
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(self.timezone)
        except Exception:  # noqa: BLE001 - any failure means the name is unusable
            raise ValueError(f"unknown timezone {self.timezone!r}") from None
        return self

    def factor_codes(self) -> dict[str, FactorCode]:
        return {**DEFAULT_CODES, **self.codes}

    def vehicle_code_map(self) -> dict[str, str]:
        return {**DEFAULT_VEHICLE_CODES, **self.vehicle_codes}

    def emission_code_map(self) -> dict[str, str]:
        return {**DEFAULT_EMISSION_CODES, **self.emission_codes}
