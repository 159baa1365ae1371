"""The CP data area of an HJ 212 packet (§6.3.3): ``Key=Value`` items and per-pollutant fields.

Grammar (HJ 212-2017 §6.3.3.1), as parsed here::

    area   := "" | group (";" group)*
    group  := item | factor ("," factor)*      ; "," only joins fields of ONE pollutant
    item   := Name "=" value                   ; Name has no "-" (DataTime, QnRtn, PolId, ...)
    factor := Code "-" Field "=" value         ; a34004-Rtd=25, SB1-RS=1, w01018-SampleTime=...

Plain items come first, then one group per pollutant; names are kept verbatim (the standard's own
examples have a stray space, ``; LA-Rtd=50.1``, and re-encoding must give the same bytes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from carbonedge.runtime.base.errors import PermanentUplinkError

# What would change the structure if it appeared inside a name or a value (or is a control char).
_BAD_NAME = re.compile(r"[;,=&\x00-\x1f\x7f]")
_BAD_VALUE = re.compile(r"[;,\x00-\x1f\x7f]|&&")


class Hj212Error(PermanentUplinkError):
    """A packet or one of its fields breaks HJ 212; ``reason`` says which field, where, and why.

    ``offset`` is the byte offset in the raw packet (``##`` is 0) when known.
    """

    def __init__(self, reason: str, offset: int | None = None) -> None:
        self.reason = reason
        self.offset = offset
        super().__init__(reason if offset is None else f"{reason} (byte {offset})")


def check_name(what: str, name: str) -> None:
    """Raise Hj212Error when ``name`` cannot be written as a CP field name."""
    if not isinstance(name, str) or not name:
        raise Hj212Error(f"{what}: expected a non-empty str, got {name!r}")
    if _BAD_NAME.search(name):
        raise Hj212Error(f"{what}: name {name!r} contains a reserved or control character")


def check_value(what: str, value: str) -> None:
    """Raise Hj212Error when ``value`` cannot be written as a CP value."""
    if not isinstance(value, str):
        raise Hj212Error(f"{what}: value must be a str, got {type(value).__name__}")
    if _BAD_VALUE.search(value):
        raise Hj212Error(f"{what}: value {value!r} contains ';', ',', '&&' or a control character")


@dataclass
class CpData:
    """CP contents: ``items`` (plain ``Key=Value`` pairs, in order) then ``factors``.

    ``factors`` maps a pollutant code to its fields in order, e.g.
    ``{"a34004": {"Rtd": "25", "Flag": "N"}}`` is written ``a34004-Rtd=25,a34004-Flag=N``.
    Values are strings exactly as transmitted (numbers are formatted by the caller).
    """

    items: list[tuple[str, str]] = field(default_factory=list)
    factors: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for entry in self.items:
            if not (isinstance(entry, tuple) and len(entry) == 2):
                raise Hj212Error(f"CP item {entry!r}: expected a (key, value) tuple")
            key, value = entry
            check_name("CP item", key)
            if "-" in key:
                raise Hj212Error(f"CP item {key!r}: a name with '-' is a pollutant field")
            if key in seen:
                raise Hj212Error(f"CP item {key!r} appears twice")
            seen.add(key)
            check_value(f"CP item {key!r}", value)
        for code, fields in self.factors.items():
            check_name("CP pollutant code", code)
            if "-" in code:
                raise Hj212Error(f"CP pollutant code {code!r} contains '-'")
            if not fields:
                raise Hj212Error(f"CP pollutant {code!r} has no fields")
            for name, value in fields.items():
                check_name(f"CP field of {code!r}", name)
                check_value(f"CP field {code}-{name}", value)

    def get(self, key: str) -> str | None:
        """Value of the plain item ``key`` (e.g. ``DataTime``), or None."""
        for k, v in self.items:
            if k == key:
                return v
        return None

    def encode(self) -> str:
        """The data area text (without the surrounding ``CP=&&`` / ``&&``)."""
        groups = [f"{k}={v}" for k, v in self.items]
        for code, fields in self.factors.items():
            groups.append(",".join(f"{code}-{name}={value}" for name, value in fields.items()))
        return ";".join(groups)


def _split_field(text: str, offset: int, to_byte: ByteOffset) -> tuple[str, str]:
    """``Name=value`` -> (name, value); the value may contain '=' (split at the first one)."""
    eq = text.find("=")
    if eq < 0:
        raise Hj212Error(f"CP field {text!r} has no '='", to_byte(offset))
    name = text[:eq]
    if not name:
        raise Hj212Error(f"CP field {text!r} has an empty name", to_byte(offset))
    if "&" in name:
        raise Hj212Error(f"CP field name {name!r} contains '&'", to_byte(offset))
    return name, text[eq + 1 :]


class ByteOffset:
    """Maps a character index of the CP text to the byte offset in the raw packet."""

    def __init__(self, text: str, base_byte: int) -> None:
        self._text = text
        self._base = base_byte
        self._ascii = text.isascii()

    def __call__(self, index: int) -> int:
        if self._ascii:
            return self._base + index
        return self._base + len(self._text[:index].encode("utf-8"))


def parse_cp(text: str, base_byte: int = 0) -> CpData:
    """Parse a data area (the text between ``CP=&&`` and the closing ``&&``).

    ``base_byte`` is the byte offset of ``text`` in the raw packet, for error messages.
    Raises Hj212Error naming the field and its byte offset.
    """
    to_byte = ByteOffset(text, base_byte)
    items: list[tuple[str, str]] = []
    factors: dict[str, dict[str, str]] = {}
    if text == "":
        return CpData(items, factors)
    pos = 0
    # Step 1: ';' separates groups; each group is one item or one pollutant's fields.
    for group in text.split(";"):
        if group == "":
            raise Hj212Error("empty CP group (';;' or a ';' at an end)", to_byte(pos))
        parts = group.split(",")
        if len(parts) == 1 and "-" not in group.split("=", 1)[0]:
            # Step 2: a plain item; it must come before any pollutant group.
            name, value = _split_field(group, pos, to_byte)
            if factors:
                raise Hj212Error(
                    f"CP item {name!r} follows pollutant fields; plain items must come first",
                    to_byte(pos),
                )
            if any(k == name for k, _ in items):
                raise Hj212Error(f"CP item {name!r} appears twice", to_byte(pos))
            items.append((name, value))
        else:
            # Step 3: one pollutant's fields, joined by ','.
            code, fields = _parse_factor_group(parts, pos, to_byte)
            if code in factors:
                raise Hj212Error(f"CP pollutant {code!r} appears in two ';' groups", to_byte(pos))
            factors[code] = fields
        pos += len(group) + 1
    return CpData(items, factors)


def _parse_factor_group(
    parts: list[str], pos: int, to_byte: ByteOffset
) -> tuple[str, dict[str, str]]:
    code: str | None = None
    fields: dict[str, str] = {}
    for part in parts:
        if part == "":
            raise Hj212Error("empty CP field (',,' or a ',' at an end)", to_byte(pos))
        name, value = _split_field(part, pos, to_byte)
        dash = name.find("-")
        if dash <= 0 or dash == len(name) - 1:
            raise Hj212Error(
                f"CP field {name!r} in a ',' list is not 'Code-Field' (',' only joins fields of "
                "one pollutant, §6.3.3.1; use ';' between items)",
                to_byte(pos),
            )
        this_code, fname = name[:dash], name[dash + 1 :]
        if code is None:
            code = this_code
        elif this_code != code:
            raise Hj212Error(
                f"',' joins fields of {code!r} and {this_code!r}; different pollutants are "
                "separated by ';' (§6.3.3.1)",
                to_byte(pos),
            )
        if fname in fields:
            raise Hj212Error(f"CP field {name!r} appears twice", to_byte(pos))
        fields[fname] = value
        pos += len(part) + 1
    assert code is not None
    return code, fields
