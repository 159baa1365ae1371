"""Calibration records: one signed, versioned JSON file per camera/sensor calibration, with history.

A record says who calibrated which source when, with what result (lines, zones, masks, ground plane,
intrinsics, sensor correction) and how good it was (homography fit errors), plus the hash of the
snapshot it was drawn on. ``RecordStore`` keeps them as ``root/<source_id>/v0001.json`` (and
``v0001.png``), never overwrites one, and signs each with HMAC-SHA256 exactly like the uplink
envelopes: the file is the record's JSON object plus ``"sig"``, computed over the canonical JSON of
the rest. A file whose signature does not verify is never used: ``current`` logs it as an error
(naming the file) and the newest valid record stays in force.

A camera record says which of the camera's fields it sets (``sets``): a listed field replaces the
site config's, listed and empty clears it, an unlisted one keeps the config's
(``runtime.calibrate.overlay``). A record written before ``sets`` existed has none; it sets the
fields it has values in (non-empty lines, zones, masks; a ground plane), as it always did.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from carbonedge.calibration.errors import CalibrationInputError, CalibrationSignatureError
from carbonedge.calibration.geometry import LineConfig, ZoneConfig
from carbonedge.calibration.ground_plane import GroundPlaneConfig
from carbonedge.calibration.intrinsics import Azimuth, Intrinsics
from carbonedge.runtime.base.signing import canonical_json, signature, signature_ok

logger = logging.getLogger(__name__)

__all__ = [
    "CAMERA_FIELDS",
    "CalibrationConfig",
    "CalibrationRecord",
    "CameraField",
    "RecordStore",
    "utc_now_iso",
]

_FILE_RE = re.compile(r"^v(\d{4,})\.json$")
_SOURCE_RE = r"^[A-Za-z0-9_.-]{1,64}$"
Polygon = list[tuple[float, float]]
CameraField = Literal[
    "lines", "zones", "ground_plane", "exclusion_masks_px", "sky_mask_px", "azimuth"
]
"""A field of a camera record that overlays the camera (see ``CalibrationRecord.sets``)."""
CAMERA_FIELDS: tuple[CameraField, ...] = (
    "lines", "zones", "ground_plane", "exclusion_masks_px", "sky_mask_px", "azimuth"
)  # fmt: skip


def utc_now_iso() -> str:
    """Now as ISO 8601 UTC, seconds precision, with a 'Z'."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class CalibrationConfig(BaseModel):
    """``calibration:`` section of a site config.

    ``key``/``key_file`` sign and verify the records; without them the uplink signing key is used.
    ``token_file`` holds the per-box token of the technician web page."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    records_dir: Path = Field(
        Path("carbonedge-calibration"),
        description="folder of the signed calibration records (one subfolder per camera or sensor)",
    )
    key: str | None = Field(
        None,
        min_length=16,
        description="secret that signs and verifies the records (use ${ENV}); default: the uplink "
        "signing key",
    )
    key_file: Path | None = Field(None, description="file holding that secret instead of key")
    token_file: Path | None = Field(
        None,
        description="file holding the technician web page's access token for this box",
    )

    @model_validator(mode="after")
    def _one_key(self) -> CalibrationConfig:
        if self.key is not None and self.key_file is not None:
            raise ValueError("give at most one of key or key_file")
        return self


class CalibrationRecord(BaseModel):
    """One calibration of one source (see the module docstring). Pixel fields use the source's
    image of ``image_size_px`` (width, height)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    source_id: str = Field(pattern=_SOURCE_RE)
    kind: Literal["camera", "sensor"] = "camera"
    version: int = Field(1, ge=1)
    created_at: str = Field(default_factory=utc_now_iso, pattern=r"^\d{4}-\d\d-\d\dT[0-9:.]+Z$")
    created_by: str = Field("unknown", min_length=1, max_length=64)
    lines: list[LineConfig] = Field(default_factory=list)
    zones: list[ZoneConfig] = Field(default_factory=list)
    exclusion_masks_px: list[Polygon] = Field(default_factory=list)
    sky_mask_px: Polygon | None = None
    ground_plane: GroundPlaneConfig | None = None
    homography_fit: dict[str, Any] | None = None
    intrinsics: dict[str, Any] | None = None
    azimuth: dict[str, Any] | None = None
    sensor: dict[str, Any] | None = None
    image_size_px: tuple[int, int] | None = None
    snapshot_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    notes: str = Field("", max_length=2000)
    sets: tuple[CameraField, ...] | None = Field(
        None,
        description="the camera fields this record sets: listed replaces the config's (listed "
        "and empty clears it), unlisted keeps it; None (records written before it existed): "
        "the fields it has values in",
    )

    @model_validator(mode="after")
    def _check(self) -> CalibrationRecord:
        self._check_sets()
        for section in ("lines", "zones"):
            ids = [item.id for item in getattr(self, section)]
            repeated = sorted({i for i in ids if ids.count(i) > 1})
            if repeated:
                raise ValueError(f"{section} ids must be unique, repeated: {', '.join(repeated)}")
        polygons = [("exclusion_masks_px", p) for p in self.exclusion_masks_px]
        if self.sky_mask_px is not None:
            polygons.append(("sky_mask_px", self.sky_mask_px))
        for name, polygon in polygons:
            if len(polygon) < 3:
                raise ValueError(
                    f"{name}: a polygon needs at least 3 vertices (got {len(polygon)})"
                )
        try:  # the camera models must load, so a record is never accepted and then unusable
            if self.intrinsics is not None:
                Intrinsics.from_dict(self.intrinsics)
            if self.azimuth is not None:
                Azimuth.from_dict(self.azimuth)
        except CalibrationInputError as exc:
            raise ValueError(str(exc)) from None
        if self.image_size_px is not None and min(self.image_size_px) < 1:
            raise ValueError(f"image_size_px must be positive (got {self.image_size_px})")
        return self

    def _check_sets(self) -> None:
        if self.sets is None:
            return
        if self.kind != "camera":
            raise ValueError("sets: only a camera record sets camera fields")
        repeated = sorted({f for f in self.sets if self.sets.count(f) > 1})
        if repeated:
            raise ValueError(f"sets: repeated {', '.join(repeated)}")
        unlisted = [f for f in CAMERA_FIELDS if f not in self.sets and getattr(self, f)]
        if unlisted:
            raise ValueError(
                f"{', '.join(unlisted)} given but not in sets (list it, or leave it out)"
            )

    def camera_fields_set(self) -> tuple[CameraField, ...]:
        """The camera fields this record sets: ``sets``, or for a record written without it the
        fields it has values in (non-empty lists, a ground plane, a sky mask, an azimuth)."""
        if self.sets is not None:
            return self.sets
        return tuple(f for f in CAMERA_FIELDS if getattr(self, f))

    @property
    def record_id(self) -> str:
        return f"{self.source_id}@v{self.version}"

    def to_json_dict(self) -> dict[str, Any]:
        """The record as plain JSON types (what is signed and stored, without ``sig``).

        A record without ``sets`` leaves the key out, so a record written before ``sets`` existed
        keeps its hash."""
        body = self.model_dump(mode="json")
        if body["sets"] is None:
            del body["sets"]
        return body

    def sha256(self) -> str:
        """Hex SHA-256 of the record's canonical JSON (identifies it upstream)."""
        return hashlib.sha256(canonical_json(self.to_json_dict())).hexdigest()


class RecordStore:
    """Signed calibration records under ``root``, one folder per source (see the module docstring).

    Args:
        root: the records folder (created on the first save).
        key: the HMAC key, at least 16 bytes (``envelope.read_key``).
    """

    def __init__(self, root: Path | str, key: bytes) -> None:
        if len(key) < 16:
            raise CalibrationInputError(
                f"calibration signing key must be at least 16 bytes (got {len(key)})"
            )
        self.root = Path(root)
        self._key = key

    def save(
        self, draft: CalibrationRecord, snapshot_png: bytes | None = None
    ) -> CalibrationRecord:
        """Store ``draft`` as the source's next version, signed; returns the stored record.

        ``version`` and ``created_at`` are assigned here; with ``snapshot_png`` its SHA-256 is the
        record's ``snapshot_sha256`` and the image is stored next to it."""
        folder = self.root / draft.source_id
        folder.mkdir(parents=True, exist_ok=True)
        fields = draft.model_dump()
        if snapshot_png is not None:
            if not snapshot_png.startswith(b"\x89PNG\r\n\x1a\n"):
                raise CalibrationInputError("snapshot_png: not a PNG image")
            fields["snapshot_sha256"] = hashlib.sha256(snapshot_png).hexdigest()
        for _ in range(100):  # another writer may take a version number between scan and link
            version = self._last_version(folder) + 1
            fields.update(version=version, created_at=utc_now_iso())
            record = CalibrationRecord.model_validate(fields)
            body = record.to_json_dict()
            data = canonical_json({**body, "sig": signature(body, self._key)})
            if _write_new(folder / f"v{version:04d}.json", data, replace_ok=False):
                if snapshot_png is not None:  # this version is ours now
                    _write_new(folder / f"v{version:04d}.png", snapshot_png, replace_ok=True)
                logger.info("calibration %s saved (%s)", record.record_id, record.sha256()[:12])
                return record
        raise CalibrationInputError(f"{folder}: could not find a free version number")

    def load_verified(self, path: Path | str) -> CalibrationRecord:
        """Read one record file; ``CalibrationSignatureError`` naming it unless it verifies."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CalibrationSignatureError(f"{path}: calibration record not found") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CalibrationSignatureError(
                f"{path}: unreadable calibration record ({exc})"
            ) from None
        if not isinstance(data, dict) or not signature_ok(data, self._key):
            raise CalibrationSignatureError(
                f"{path}: calibration record signature does not verify (tampered, or signed "
                "with another key); it is not used"
            )
        body = {k: v for k, v in data.items() if k != "sig"}
        try:
            record = CalibrationRecord.model_validate(body)
        except ValidationError as exc:
            raise CalibrationSignatureError(f"{path}: invalid calibration record: {exc}") from None
        match = _FILE_RE.match(path.name)
        if match and (int(match.group(1)), path.parent.name) != (record.version, record.source_id):
            raise CalibrationSignatureError(
                f"{path}: holds {record.record_id}, not what its name says (a renamed file)"
            )
        return record

    def history(self, source_id: str) -> list[CalibrationRecord]:
        """Every record of ``source_id`` that verifies, oldest first (bad files are logged)."""
        records = []
        for path in self._files(source_id):
            try:
                records.append(self.load_verified(path))
            except CalibrationSignatureError as exc:
                logger.error("%s", exc)
        return records

    def current(self, source_id: str) -> CalibrationRecord | None:
        """The newest record of ``source_id`` that verifies; None when there is none."""
        for path in reversed(self._files(source_id)):
            try:
                return self.load_verified(path)
            except CalibrationSignatureError as exc:
                logger.error("%s; the previous valid record stays in force", exc)
        return None

    def problems(self, source_id: str) -> list[str]:
        """One message per record file of ``source_id`` that does not verify."""
        out = []
        for path in self._files(source_id):
            try:
                self.load_verified(path)
            except CalibrationSignatureError as exc:
                out.append(str(exc))
        return out

    def sources(self) -> list[str]:
        """Source ids that have a records folder."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self._files(p.name))

    def snapshot_path(self, record: CalibrationRecord) -> Path | None:
        """The stored snapshot of ``record``, checked against its hash; None without one."""
        path = self.root / record.source_id / f"v{record.version:04d}.png"
        if record.snapshot_sha256 is None or not path.is_file():
            return None
        if hashlib.sha256(path.read_bytes()).hexdigest() != record.snapshot_sha256:
            raise CalibrationSignatureError(
                f"{path}: snapshot does not match snapshot_sha256 of {record.record_id}"
            )
        return path

    def _files(self, source_id: str) -> list[Path]:
        folder = self.root / source_id
        if not folder.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _FILE_RE.match(p.name))]
        return [p for _, p in sorted(found)]

    @staticmethod
    def _last_version(folder: Path) -> int:
        versions = [int(m.group(1)) for p in folder.iterdir() if (m := _FILE_RE.match(p.name))]
        return max(versions, default=0)


def _write_new(path: Path, data: bytes, *, replace_ok: bool) -> bool:
    """Write ``data`` to ``path`` atomically; False when it exists and ``replace_ok`` is False."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if replace_ok:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)  # fails if the path exists: a record is never overwritten
        except FileExistsError:
            return False
        return True
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
