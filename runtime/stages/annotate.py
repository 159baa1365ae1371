"""Stage "annotate": an MP4 of what was counted, drawn on a writer thread; owns no section.

Built only when the camera asks for it (``CameraPlan.annotate_path``). Per frame the pipeline
thread hands a copy of the image, the detections and a snapshot of the line counts to a writer
thread through a bounded queue; the writer draws them (``carbonedge.vision.annotate``) and writes
the MP4 (``mp4v``, at the source's frame rate). A full queue never blocks the pipeline: the frame
is dropped from the video and counted (``dropped``; logged at the end). ``close`` flushes the
queue and closes the file.

The line counts are the final crossings the stage has seen on the packets: those of this frame,
and those the pipeline appended to the previous frame's packet after the stages ran (crossings
made final as their track ended), so a count shows up at most one frame late. Crossings that
become final only as an interval closes or as the source ends are on no packet: the video's
counts leave them out (the run's totals, the store and ``carbonedge count``'s CSV have them).
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import Any

from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.base.events import LineCrossed
from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Packet

logger = logging.getLogger(__name__)

#: Frames waiting for the writer; past this the pipeline drops frames from the video.
QUEUE_FRAMES = 64
#: How long ``close`` waits for the writer to draw what is queued.
CLOSE_TIMEOUT_S = 60.0
_STOP = object()


@register_stage
class AnnotateStage(Stage):
    name = "annotate"

    def __init__(self, camera: Any, path: Path, queue_frames: int) -> None:
        self.camera, self.path = camera, Path(path)
        self.queue_frames = queue_frames
        self.dropped = 0  # frames left out of the video because the writer was behind
        self.written = 0  # frames written to the video (writer thread)
        self.line_counts: dict[str, dict[str, dict[str, int]]] = {}

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> AnnotateStage | None:
        path = getattr(camera, "annotate_path", None)
        return None if path is None else cls(camera, Path(path), QUEUE_FRAMES)

    def start(self, context: StageContext) -> None:
        super().start(context)
        from carbonedge.runtime.stages.traffic import counted_class_names

        detector = context.services.get("detector")
        self.class_names = counted_class_names(self.camera, detector) if detector else ()
        self.line_counts = {line.id: {"in": {}, "out": {}} for line in self.camera.lines}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"annotated video {self.path}: cannot make its folder ({exc})"
            ) from None
        self._queue: queue.Queue = queue.Queue(maxsize=self.queue_frames)
        self._prev_events: list[Any] = []
        self._prev_seen = 0
        self._writer_error: str | None = None
        self._thread = threading.Thread(
            target=self._write_loop, name=f"annotate-{context.camera_id}", daemon=True
        )
        self._thread.start()

    def _tally(self, events: list[Any]) -> None:
        for ev in events:
            if isinstance(ev, LineCrossed) and ev.line_id in self.line_counts:
                per_class = self.line_counts[ev.line_id].setdefault(ev.direction, {})
                per_class[ev.class_name] = per_class.get(ev.class_name, 0) + 1

    def process(self, packet: Packet) -> Packet:
        # crossings the pipeline added to the previous packet after the stages ran (forget)
        self._tally(self._prev_events[self._prev_seen :])
        self._tally(packet.events)
        self._prev_events, self._prev_seen = packet.events, len(packet.events)
        if self._writer_error is not None:
            return packet
        if self._queue.full():  # never block the pipeline: leave this frame out of the video
            self.dropped += 1
            return packet
        import numpy as np

        det = packet.detections
        counts = {k: {d: dict(c) for d, c in v.items()} for k, v in self.line_counts.items()}
        item = (packet.frame.image.copy(), det[np.arange(len(det))], counts,
                packet.frame.index, packet.frame.t_mono_s)  # fmt: skip
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
        return packet

    def _write_loop(self) -> None:
        import cv2

        from carbonedge.vision.annotate import annotate_frame, header_text

        writer = None
        camera_id = self.context.camera_id
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            if self._writer_error is not None:
                continue  # drain: the pipeline is told through _writer_error to stop queueing
            image, det, counts, index, t_s = item
            try:
                if writer is None:
                    writer = self._open(cv2, image.shape[1], image.shape[0])
                drawn = annotate_frame(
                    image, det, self.class_names, lines=self.camera.lines, line_counts=counts,
                    zones=self.camera.zones, header=header_text(camera_id, index, t_s),
                )  # fmt: skip
                writer.write(drawn)
                self.written += 1
            except Exception as exc:  # noqa: BLE001 - the video fails, the counting goes on
                self._writer_error = f"{type(exc).__name__}: {exc}"
                logger.error("annotated video %s: %s; no more frames written", self.path, exc)
        if writer is not None:
            writer.release()

    def _open(self, cv2: Any, width: int, height: int) -> Any:
        fps = float(self.context.fps) if self.context.fps and self.context.fps > 0 else 25.0
        writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                 (int(width), int(height)))  # fmt: skip
        if not writer.isOpened():
            raise OSError(f"cannot open {self.path} for writing (mp4v, {width}x{height})")
        return writer

    def close(self) -> None:
        thread = getattr(self, "_thread", None)
        if thread is None:
            return
        self._tally(self._prev_events[self._prev_seen :])
        try:  # the writer drains what is queued before it
            self._queue.put(_STOP, timeout=CLOSE_TIMEOUT_S)
        except queue.Full:
            pass
        thread.join(CLOSE_TIMEOUT_S)
        if thread.is_alive():
            logger.error("annotated video %s: writer still busy after %.0f s; file may be short",
                         self.path, CLOSE_TIMEOUT_S)  # fmt: skip
        self._thread = None
        if self.dropped:
            logger.warning(
                "annotated video %s: %d of %d frames left out (the writer could not keep up)",
                self.path, self.dropped, self.dropped + self.written,
            )  # fmt: skip
        logger.info("annotated video %s: %d frames written", self.path, self.written)
