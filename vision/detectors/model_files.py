"""Finding model files: config path, ``$CARBONEDGE_MODEL_DIR``, then the user cache.

Nothing is ever downloaded at run time. For models we know, the error for a missing file gives the
official URL and SHA-256 so an operator can fetch it once and place it in one of the searched
folders; a known model whose hash differs is reported (it may be a re-export, or corrupt).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from carbonedge.runtime.base.errors import ModelError

logger = logging.getLogger(__name__)

MODEL_DIR_ENV = "CARBONEDGE_MODEL_DIR"


@dataclass(frozen=True, slots=True)
class KnownModel:
    file_name: str
    sha256: str
    url: str


KNOWN_MODELS: dict[str, KnownModel] = {
    m.file_name: m
    for m in (
        KnownModel(
            "yolox_nano_416.onnx",
            "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14",
            "https://github.com/Kazuhito00/YOLOX-ONNX-TFLite-Sample/raw/main/model/yolox_nano.onnx",
        ),
    )
}


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/carbonedge/models`` (default ``~/.cache/carbonedge/models``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "carbonedge" / "models"


def search_dirs() -> list[Path]:
    """Folders searched for a model given by bare file name, in order."""
    dirs = []
    if os.environ.get(MODEL_DIR_ENV):
        dirs.append(Path(os.environ[MODEL_DIR_ENV]).expanduser())
    dirs.append(user_cache_dir())
    return dirs


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def locate_model(name_or_path: str | Path) -> Path:
    """Path of an existing model file, or ``ModelError`` saying where we looked and how to fix it.

    A value with a folder part (``models/x.onnx``, ``./x.onnx``, ``/opt/x.onnx``) is used as given;
    a bare file name is looked up in ``$CARBONEDGE_MODEL_DIR`` and then in the user cache (never
    in the current folder, so a stray local copy cannot shadow the configured one).
    """
    text = str(name_or_path)
    given = Path(text).expanduser()
    if "/" in text or os.sep in text or given.is_absolute():
        candidates = [given]
    else:
        candidates = [d / given.name for d in search_dirs()]
    for path in candidates:
        if path.is_file():
            _check_known_hash(path)
            return path
    looked = ", ".join(str(p) for p in candidates) or str(given)
    hint = f"set {MODEL_DIR_ENV} to the folder that holds it, or give its full path in the config"
    known = KNOWN_MODELS.get(given.name)
    if known:
        target = user_cache_dir() / known.file_name
        hint += (
            f"; to fetch it once: mkdir -p {target.parent} && curl -L -o {target} {known.url} "
            f"(expected sha256 {known.sha256})"
        )
    raise ModelError(f"model {str(name_or_path)!r} not found (looked in: {looked}); {hint}")


def _check_known_hash(path: Path) -> None:
    known = KNOWN_MODELS.get(path.name)
    if known is None:
        return
    try:
        digest = sha256_of(path)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model file ({exc.strerror})") from None
    if digest != known.sha256:
        logger.warning(
            "model %s does not match the published SHA-256 of %s; using it anyway "
            "(re-export or modified file?)",
            path,
            known.file_name,
        )


def found_models() -> list[tuple[str, Path]]:
    """Every ``*.onnx`` in the search folders, as (file name, path), for ``carbonedge doctor``."""
    out = []
    for d in search_dirs():
        if d.is_dir():
            out.extend((p.name, p) for p in sorted(d.glob("*.onnx")))
    return out
