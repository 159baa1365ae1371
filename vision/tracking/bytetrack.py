"""ByteTrack multi-object tracker (Zhang et al., 2022) on columnar ``Detections``.

Two-stage association: high-score detections are matched first against every confirmed track
(tracked and lost), then low-score detections against the confirmed tracks still unmatched and not
lost, then the remaining high-score detections against unconfirmed tracks; what is left starts new
tracks. Motion is the batched xyah Kalman filter of ``carbonedge.kernels``; similarity is box IoU
(optionally multiplied by the detection score, ByteTrack's ``fuse_score``), solved as a linear sum
assignment (scipy's algorithm) with a cost threshold.

The whole per-frame step is one compiled call (``carbonedge.kernels._bytetrack_nb.step``, Numba):
a frame costs microseconds, not the hundreds of NumPy calls the step used to make. It reproduces
the NumPy/scipy reference :class:`~carbonedge.vision.tracking._bytetrack_ref.ReferenceByteTrack`
exactly (same ids, rows and classes; a parity test runs both frame by frame).

Track state is a table of preallocated NumPy arrays (one row per track, rows in creation order)
whose capacity doubles when full; the kernel compacts the rows whenever a track is removed, so
memory is bounded by the peak number of live tracks; ids of removed confirmed tracks are queued
for :meth:`ByteTrack.pop_removed` so downstream per-track state can be evicted too.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from carbonedge.kernels import _bytetrack_layout as layout
from carbonedge.kernels import bytetrack_step_kernel
from carbonedge.runtime.base.types import Detections

__all__ = ["ByteTrack", "ByteTrackConfig"]

_REMOVED_QUEUE_MAX = 65536  # removed ids waiting for pop_removed(); oldest dropped beyond this
_INITIAL_CAPACITY = 64  # track rows preallocated; doubles when full


class ByteTrackConfig(BaseModel):
    """ByteTrack settings; IoU thresholds are minimum similarities (1 - ByteTrack's cost limits).

    With ``fuse_score`` (ByteTrack's default outside MOT20) the first and the unconfirmed
    association compare ``IoU * detection score`` with their threshold; the low-score association
    always uses the plain IoU.

    ``high_score`` 0.4 and ``new_track_score`` 0.45 (ByteTrack's own: 0.5 / 0.6) were chosen on
    the hand-counted dev clips (``benchmarks/truth``): the small COCO detectors score compressed,
    distant or top-down vehicles 0.35-0.55, and at 0.5 / 0.6 those never start a track. With
    PicoDet the event F1 over 12 clips went 0.78 -> 0.82 with 5 more phantoms on 234 crossings;
    0.35 / 0.35 gained 1 more match (README, Road taxonomy).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    high_score: float = Field(
        0.4,
        gt=0.0,
        le=1.0,
        description="detections at or above this score take part in the first association",
    )
    low_score: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="detections between this and high_score take part in the second association",
    )
    new_track_score: float = Field(
        0.45,
        ge=0.0,
        le=1.0,
        description="an unmatched detection starts a track only at or above this score",
    )
    match_iou: float = Field(
        0.2,
        gt=0.0,
        le=1.0,
        description="least similarity of the first association",
    )
    second_match_iou: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="least IoU of the second (low-score) association",
    )
    unconfirmed_match_iou: float = Field(
        0.3,
        gt=0.0,
        le=1.0,
        description="least similarity to match an unconfirmed track",
    )
    fuse_score: bool = Field(
        True,
        description="multiply IoU by the detection score in the first and unconfirmed association",
    )
    lost_buffer_s: float = Field(
        1.0,
        ge=0.0,
        description="a lost track is kept this long for re-matching",
    )
    min_hits: int = Field(2, ge=1, description="matches before a track is confirmed (gets an id)")
    backfill_s: float = Field(
        0.8,
        ge=0.0,
        le=5.0,
        description="a track, when confirmed, takes back the boxes no track took in up to this "
        "many seconds before it (vision/tracking/backfill.py): a line it crossed while still "
        "too weak to track counts; 0: off",
    )

    @model_validator(mode="after")
    def _check_order(self) -> ByteTrackConfig:
        if self.low_score > self.high_score:
            raise ValueError(
                f"low_score ({self.low_score}) must be <= high_score ({self.high_score})"
            )
        return self


class ByteTrack:
    """ByteTrack over ``Detections``; one instance per source.

    Args:
        config: thresholds and buffers.
        fps: the source's real frame rate (frames per second); the lost buffer in frames is
            ``round(lost_buffer_s * fps)``. The Kalman step is one frame.

    Raises:
        KernelError: the compiled step (Numba) is not available.
    """

    def __init__(self, config: ByteTrackConfig, fps: float) -> None:
        if not fps > 0:
            raise ValueError(f"ByteTrack: fps must be > 0, got {fps}")
        self.config = config
        self.fps = float(fps)
        self.lost_buffer_frames = round(config.lost_buffer_s * self.fps)
        self._step = bytetrack_step_kernel()
        self._thresholds = np.array(
            [config.high_score, config.low_score, config.new_track_score], np.float32
        )
        self._similarities = np.array(
            [config.match_iou, config.second_match_iou, config.unconfirmed_match_iou], np.float64
        )
        self._next_id = 1
        self.taken_rows = np.zeros(0, np.int32)  # input rows the last update output
        self._removed: deque[int] = deque(maxlen=_REMOVED_QUEUE_MAX)
        self._clear()

    # --- state table ------------------------------------------------------------------------------
    def _clear(self) -> None:
        cap = _INITIAL_CAPACITY
        self._frame = 0
        self._n = 0  # rows in use
        self._mean = np.zeros((cap, 8), np.float64)
        self._cov = np.zeros((cap, 8, 8), np.float64)
        self._votes = np.zeros((cap, 1), np.float64)  # (rows, classes) summed confidence
        self._table = np.zeros((cap, layout.N_INT_COLUMNS), np.int64)  # ID, HITS, ... columns
        self._removed_rows = np.zeros(cap, np.int64)  # the kernel writes removed ids here

    def _grow(self, rows: int) -> None:
        """Room for at least ``rows`` tracks (capacity doubles, amortised)."""
        cap = max(rows, 2 * len(self._table))
        n = self._n
        for name in ("_mean", "_cov", "_votes", "_table"):
            old = getattr(self, name)
            new = np.zeros((cap, *old.shape[1:]), old.dtype)
            new[:n] = old[:n]
            setattr(self, name, new)
        self._removed_rows = np.zeros(cap, np.int64)

    def _grow_votes(self, classes: int) -> None:
        """Room for class ids < ``classes`` in the vote table."""
        votes = np.zeros((len(self._votes), classes), np.float64)
        votes[:, : self._votes.shape[1]] = self._votes
        self._votes = votes

    def _ids_where(self, column: int) -> NDArray[np.int64]:
        rows = self._table[: self._n]
        return rows[rows[:, column] != 0, layout.ID]

    # --- public API -------------------------------------------------------------------------------
    @property
    def active_track_count(self) -> int:
        """Confirmed tracks currently tracked (not lost)."""
        rows = self._table[: self._n]
        tracked, confirmed = rows[:, layout.TRACKED] != 0, rows[:, layout.CONFIRMED] != 0
        return int(np.count_nonzero(tracked & confirmed))

    @property
    def held_track_count(self) -> int:
        """Every track held in memory: tracked, lost and unconfirmed."""
        return self._n

    def warmup(self) -> None:
        """Compile or load the Numba step once (call before reporting ready); no state kept."""
        scratch = ByteTrack(self.config, self.fps)
        for dx in (0.0, 2.0):
            scratch.update(Detections(np.array([[10.0 + dx, 10.0, 50.0 + dx, 40.0]]), [0.9], [0]))

    def pop_removed(self) -> list[int]:
        """Ids of confirmed tracks removed since the last call (call once per frame)."""
        out = list(self._removed)
        self._removed.clear()
        return out

    def reset(self) -> None:
        """Forget every track (confirmed ids go to :meth:`pop_removed`); ids are never reused."""
        self._removed.extend(self._ids_where(layout.CONFIRMED).tolist())
        self._clear()

    def update(self, detections: Detections) -> Detections:
        """Track one frame's detections.

        Args:
            detections: this frame's detections (any ``tracker_id`` is ignored). Rows with
                non-finite boxes or zero width/height, or below ``low_score``, are ignored.

        Returns:
            The input rows matched to confirmed tracks this frame, in input order, with
            ``tracker_id`` set, ``class_id`` replaced by the track's confidence-weighted class vote
            and ``xyxy``, ``confidence`` and ``source_row`` as in the input; ``taken_rows`` holds
            their indices in ``detections`` until the next call.

        Raises:
            ValueError: a ``class_id`` < 0, a non-finite confidence in an association, or a
                numerically broken track (the frame is not applied).
        """
        self._frame += 1
        if self._n + len(detections) > len(self._table):
            self._grow(self._n + len(detections))
        while True:
            status, detail, n, next_id, n_removed, out = self._step(
                self._mean, self._cov, self._votes, self._table, self._n, self._frame,
                self._next_id, detections.xyxy, detections.confidence, detections.class_id,
                np.arange(len(detections), dtype=np.int32), self._thresholds, self._similarities,
                self.config.fuse_score, self.lost_buffer_frames, self.config.min_hits,
                self._removed_rows,
            )  # fmt: skip
            if status != layout.GROW_VOTES:
                break
            self._grow_votes(detail)
        if status != layout.OK:
            raise ValueError(f"ByteTrack.update: frame {self._frame}: {_problem(status, detail)}")
        self._n, self._next_id = n, next_id
        if n_removed:
            self._removed.extend(self._removed_rows[:n_removed].tolist())
        xyxy, confidence, class_id, tracker_id, taken = out
        self.taken_rows = taken
        return Detections(xyxy, confidence, class_id, tracker_id, detections.source_row[taken])


def _problem(status: int, detail: int) -> str:
    """What a non-OK kernel status means, for the error message."""
    if status == layout.BAD_CLASS:
        return "class_id must be >= 0"
    if status == layout.LSAP_INVALID:
        return "association costs contain invalid numeric entries (non-finite confidence?)"
    return f"innovation covariance of matched track {detail} is not positive definite"
