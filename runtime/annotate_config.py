"""``annotate:`` on a camera: an annotated MP4 of what was counted, and/or clips around alarms.

    cameras:
      gate-north:
        annotate: out/gate-north.mp4          # shorthand for {path: out/gate-north.mp4}
      tower:
        annotate:
          clips_dir: out/clips                # one MP4 per alarm (fire, smoke, camera moved)
          clip_before_s: 5
          clip_after_s: 10

``carbonedge run SITE.yaml --annotate out.mp4`` sets ``path`` on every camera (one camera:
``out.mp4``; several: ``out.<camera id>.mp4``). Drawing happens on a writer thread of its own
(``runtime/stages/annotate.py``): when it falls behind, frames are left out of the video, never out
of the counting, and the number left out is logged and exported
(``carbonedge_annotate_frames_dropped_total``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from carbonedge.runtime.base.model import StrictModel

__all__ = ["AnnotateConfig", "per_camera_path", "with_annotate_path"]


class AnnotateConfig(StrictModel):
    """What the annotate stage writes for one camera (at least one of ``path``, ``clips_dir``)."""

    path: Path | None = Field(None, description="the whole run as one annotated MP4")
    clips_dir: Path | None = Field(
        None, description="folder of annotated MP4 clips, one per alarm (fire/smoke, camera moved)"
    )
    clip_before_s: float = Field(5.0, ge=0.0, le=60.0, description="seconds kept before an alarm")
    clip_after_s: float = Field(10.0, gt=0.0, le=600.0, description="seconds written after it")
    queue_frames: int = Field(
        64, ge=1, le=1024, description="frames waiting for the writer; past this they are dropped"
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: object) -> object:
        if isinstance(data, (str, Path)):
            return {"path": data}
        return data

    @model_validator(mode="after")
    def _something(self) -> AnnotateConfig:
        if self.path is None and self.clips_dir is None:
            raise ValueError("give path (the whole run) or clips_dir (clips around alarms)")
        if self.path is not None and self.path.suffix.lower() != ".mp4":
            raise ValueError(f"path {str(self.path)!r}: expected a .mp4 file name")
        return self


def per_camera_path(path: Path, camera_id: str, cameras: int) -> Path:
    """``--annotate out.mp4``: ``out.mp4`` for one camera, ``out.<camera_id>.mp4`` for several."""
    path = Path(path)
    if cameras <= 1:
        return path
    return path.with_name(f"{path.stem}.{camera_id}{path.suffix or '.mp4'}")


def with_annotate_path(config: Any, path: Path) -> Any:
    """A site config (``SiteConfig``) whose every camera writes its annotated MP4 at ``path``
    (``per_camera_path``); a camera's own ``annotate:`` keeps its clip settings."""
    cameras = {}
    for camera_id, camera in config.cameras.items():
        own = camera.annotate
        target = per_camera_path(path, camera_id, len(config.cameras))
        annotate = (own.model_copy(update={"path": target}) if own is not None
                    else AnnotateConfig(path=target))  # fmt: skip
        cameras[camera_id] = camera.model_copy(update={"annotate": annotate})
    return config.model_copy(update={"cameras": cameras})
