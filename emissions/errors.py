"""Errors of the emissions package, inside the one ``CarbonEdgeError`` hierarchy."""

from __future__ import annotations

from carbonedge.runtime.base.errors import CarbonEdgeError, ConfigError


class UnknownCategoryError(ConfigError):
    """A vehicle class, size, fuel, emission standard, pollutant or biome has no shipped factors.

    The message names the value and lists what is shipped.
    """


class EmissionsInputError(CarbonEdgeError):
    """Activity data (counts, distances, speeds, idle) is invalid; the message names the field."""
