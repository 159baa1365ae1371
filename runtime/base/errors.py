"""The one error hierarchy of carbonedge.

Foreign exceptions are wrapped at the boundary (file, model, device, network) so that callers only
ever catch ``CarbonEdgeError`` subclasses, and the CLI can print one clear line and exit non-zero.
"""

from __future__ import annotations


class CarbonEdgeError(Exception):
    """Base of every error carbonedge raises on purpose."""


class ConfigError(CarbonEdgeError):
    """A configuration file or value is invalid: the message names the file, key and expectation."""


class ModelError(CarbonEdgeError):
    """A model file is missing, unreadable or of the wrong layout.

    The message says how to fix it.
    """


class KernelError(CarbonEdgeError):
    """A compiled kernel is missing or was given input it cannot take."""


class DeviceError(CarbonEdgeError):
    """A frame source or sensor failed."""


class SourceOpenError(DeviceError):
    """A source could not be opened at all (missing file, unreadable container, bad URL)."""


class SourceDisconnected(DeviceError):
    """A live source stopped delivering frames; the caller may reconnect."""


class StoreError(CarbonEdgeError):
    """The on-box store could not be opened or written."""


class UplinkError(CarbonEdgeError):
    """Sending a message upstream failed."""


class RetryableUplinkError(UplinkError):
    """The message stays in the outbox and is sent again later."""


class PermanentUplinkError(UplinkError):
    """The message goes to the dead-letter table; sending it again cannot succeed."""
