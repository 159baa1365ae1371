"""Errors of the calibration tools: bad technician input and records that fail their signature."""

from __future__ import annotations

from carbonedge.runtime.base.errors import ConfigError

__all__ = ["CalibrationError", "CalibrationInputError", "CalibrationSignatureError"]


class CalibrationError(ConfigError):
    """Base of the calibration errors (a configuration problem: the message says what to fix)."""


class CalibrationInputError(CalibrationError):
    """Measured points, images or record fields cannot give a calibration (names what is wrong)."""


class CalibrationSignatureError(CalibrationError):
    """A calibration record file is unreadable, malformed or its HMAC signature does not verify."""
