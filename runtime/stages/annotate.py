"""Stage "annotate": what was counted, drawn off the pipeline thread; owns no section.

Built when the camera asks for an annotated video (``annotate:`` in its config, ``CameraPlan``'s
``annotate`` or ``annotate_path``; ``runtime/annotate_config.py``) or when the site serves the
live page (``services["live"]``, a ``runtime.live.hub.LiveHub``). Per frame it keeps the running
line counts from the packets' crossings, then:

- video/clips: hands a copy of the image, the detections and the counts to a writer thread
  through a bounded queue; the writer draws them (``carbonedge.vision.annotate``) and writes the
  MP4 and/or the alarm clips (``runtime/annotate_video.py``). A full queue never blocks the
  pipeline: the frame is left out of the video (never out of the counting) and counted
  (``dropped``; the run's ``annotate_dropped``, ``/metrics``, the log at the end).
- live page: offers the frame to the camera's ``LiveSlot``, which keeps it only while someone
  watches (or every few seconds) and draws it on the HTTP thread that asks.

The line counts are the final crossings the stage has seen on the packets: those of this frame,
and those the pipeline appended to the previous frame's packet after the stages ran (crossings
made final as their track ended), so a count shows up at most one frame late. Crossings that
become final only as an interval closes or as the source ends are on no packet: the video's
counts leave them out (the run's totals, the store and ``carbonedge count``'s CSV have them).
Alarms (fire/smoke starting, camera moved) are the events stored at once (``emit_now``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

from carbonedge.runtime.annotate_config import AnnotateConfig
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.base.events import LineCrossed
from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Packet

logger = logging.getLogger(__name__)

#: Frames waiting for the writer when a camera gives only ``annotate_path`` (``count``).
QUEUE_FRAMES = 64
#: How long ``close`` waits for the writer to draw what is queued.
CLOSE_TIMEOUT_S = 60.0
_STOP = object()


def annotate_config_of(camera: Any) -> AnnotateConfig | None:
    """The camera's ``annotate`` config, or one made from a bare ``annotate_path``."""
    config = getattr(camera, "annotate", None)
    if config is not None:
        return config
    path = getattr(camera, "annotate_path", None)
    return None if path is None else AnnotateConfig(path=Path(path), queue_frames=QUEUE_FRAMES)


def _alarm_kind(event: Any) -> str | None:
    """The kind of an alarm that starts with ``event`` (None: not a start)."""
    if getattr(event, "status", "start") != "start":
        return None  # a fire alarm's update or end
    return type(event).__name__.lower().replace("alarm", "") or "alarm"


@register_stage
class AnnotateStage(Stage):
    name = "annotate"

    def __init__(self, camera: Any, config: AnnotateConfig | None, live: Any = None) -> None:
        self.camera, self.config, self.live_hub = camera, config, live
        self.path = config.path if config is not None else None
        self.queue_frames = config.queue_frames if config is not None else 0
        self.dropped = 0  # frames left out of the video because the writer was behind
        self.written = 0  # frames drawn by the writer
        self.outputs: Any = None  # AnnotatedOutputs, on the writer thread
        self.line_counts: dict[str, dict[str, dict[str, int]]] = {}

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> AnnotateStage | None:
        config, live = annotate_config_of(camera), context.services.get("live")
        return None if config is None and live is None else cls(camera, config, live)

    def start(self, context: StageContext) -> None:
        super().start(context)
        from carbonedge.runtime.stages.traffic import counted_class_names

        detector = context.services.get("detector")
        self.class_names = counted_class_names(self.camera, detector) if detector else ()
        self.line_counts = {line.id: {"in": {}, "out": {}} for line in self.camera.lines}
        self.live = self.live_hub.slot(context.camera_id) if self.live_hub is not None else None
        self._prev_events: list[Any] = []
        self._prev_seen = 0
        self._alarms: list[str] = []
        self._writer_error: str | None = None
        self._thread: threading.Thread | None = None
        if self.config is None:
            return
        for folder in (self.path.parent if self.path else None, self.config.clips_dir):
            try:
                if folder is not None:
                    folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"annotated video {self.path or folder}: cannot make its folder ({exc})"
                ) from None
        if self.config.clips_dir is not None:  # alarms are stored at once: see them on the way
            stored = context.emit_now
            context.emit_now = lambda events: (self._note_alarms(events), stored(events))[1]
        self._queue: queue.Queue = queue.Queue(maxsize=self.queue_frames)
        self._thread = threading.Thread(
            target=self._write_loop, name=f"annotate-{context.camera_id}", daemon=True
        )
        self._thread.start()

    def _note_alarms(self, events: list[Any]) -> None:
        self._alarms += [k for k in map(_alarm_kind, events) if k is not None]

    def _tally(self, events: list[Any]) -> None:
        for ev in events:
            if isinstance(ev, LineCrossed) and ev.line_id in self.line_counts:
                per_class = self.line_counts[ev.line_id].setdefault(ev.direction, {})
                per_class[ev.class_name] = per_class.get(ev.class_name, 0) + 1

    def _counts(self) -> dict[str, dict[str, dict[str, int]]]:
        return {k: {d: dict(c) for d, c in v.items()} for k, v in self.line_counts.items()}

    def process(self, packet: Packet) -> Packet:
        # crossings the pipeline added to the previous packet after the stages ran (forget)
        self._tally(self._prev_events[self._prev_seen :])
        self._tally(packet.events)
        self._prev_events, self._prev_seen = packet.events, len(packet.events)
        if self.live is not None:
            self.live.offer(time.monotonic(), lambda: self._live_item(packet))
        if self._thread is None or self._writer_error is not None:
            return packet
        if self._queue.full():  # never block the pipeline: leave this frame out of the video
            self._drop()
            return packet
        item = (*self._copy(packet), self._alarms)
        try:
            self._queue.put_nowait(item)
            self._alarms = []
        except queue.Full:
            self._drop()
        return packet

    def _drop(self) -> None:
        self.dropped += 1
        self.context.count("annotate_dropped")

    def _copy(self, packet: Packet) -> tuple[Any, ...]:
        import numpy as np

        det, frame = packet.detections, packet.frame
        return (frame.image.copy(), det[np.arange(len(det))], self._counts(), frame.index,
                frame.t_mono_s, frame.t_wall_s)  # fmt: skip

    def _draw(self, image: Any, det: Any, counts: Any, index: int, t_s: float) -> Any:
        from carbonedge.vision.annotate import annotate_frame, header_text

        return annotate_frame(
            image, det, self.class_names, lines=self.camera.lines, line_counts=counts,
            zones=self.camera.zones, header=header_text(self.context.camera_id, index, t_s),
        )  # fmt: skip

    def _live_item(self, packet: Packet) -> Any:
        from carbonedge.runtime.live.hub import LiveItem

        image, det, counts, index, t_s, _ = self._copy(packet)
        return LiveItem(index, t_s, lambda: self._draw(image, det, counts, index, t_s))

    def _write_loop(self) -> None:
        from carbonedge.runtime.annotate_video import AnnotatedOutputs

        assert self.config is not None
        self.outputs = AnnotatedOutputs(self.config, self.context.camera_id, self.context.fps)
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            if self._writer_error is not None:
                continue  # drain: the pipeline is told through _writer_error to stop queueing
            image, det, counts, index, t_s, t_wall_s, alarms = item
            try:
                self.outputs.write(self._draw(image, det, counts, index, t_s), index, t_wall_s,
                                   alarms)  # fmt: skip
                self.written += 1
            except Exception as exc:  # noqa: BLE001 - the video fails, the counting goes on
                self._writer_error = f"{type(exc).__name__}: {exc}"
                logger.error("annotate %s: %s; no more frames written",
                             self.path or self.config.clips_dir, exc)  # fmt: skip
        self.outputs.close()

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
        where = self.path or (self.config.clips_dir if self.config else None)
        if thread.is_alive():
            logger.error("annotated video %s: writer still busy after %.0f s; file may be short",
                         where, CLOSE_TIMEOUT_S)  # fmt: skip
        self._thread = None
        if self.dropped:
            logger.warning(
                "annotated video %s: %d of %d frames left out (the writer could not keep up)",
                where, self.dropped, self.dropped + self.written,
            )  # fmt: skip
        logger.info("annotated video %s: %d frames written", where, self.written)
