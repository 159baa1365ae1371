"""Test RTSP camera: GStreamer's RTSP server on 127.0.0.1 (run with /usr/bin/python3, see rigs).

Mounts:
  /live    the clip, H.264, real time (the launch line of ../shared/docs/test-rigs.md), looped by
           the client reconnecting; shared between clients.
  /freeze  the clip's first frames in real time for ``--moving-s`` seconds, then the same frame
           forever (a camera whose encoder keeps sending a stuck picture, Pyronear #421/#422).

Usage: /usr/bin/python3 rtsp_server.py --port PORT --clip CLIP [--moving-s 3] [--fps 15]
Prints "ready" on stdout once the server is attached. Stop it with SIGTERM.
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

ENCODE = (
    "videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 "
    "! rtph264pay name=pay0 pt=96"
)


def decode_frames(clip, count, width, height):
    """The first ``count`` frames of ``clip`` as raw I420 bytes."""
    pipeline = Gst.parse_launch(
        f'filesrc location="{clip}" ! decodebin ! videoconvert ! videoscale '
        f"! video/x-raw,format=I420,width={width},height={height} ! appsink name=sink sync=false"
    )
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    frames = []
    while len(frames) < count:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        buffer = sample.get_buffer()
        frames.append(buffer.extract_dup(0, buffer.get_size()))
    pipeline.set_state(Gst.State.NULL)
    if not frames:
        raise SystemExit(f"no frames decoded from {clip}")
    return frames


class FreezeFactory(GstRtspServer.RTSPMediaFactory):
    """Feeds decoded clip frames to an appsrc; after ``moving_s`` it repeats the last one."""

    def __init__(self, frames, fps, moving_s, width, height):
        super().__init__()
        self.frames, self.fps, self.moving_s = frames, fps, moving_s
        self.caps = f"video/x-raw,format=I420,width={width},height={height},framerate={fps}/1"

    def do_create_element(self, url):
        launch = f"( appsrc name=src is-live=true format=time caps={self.caps} ! {ENCODE} )"
        return Gst.parse_launch(launch)

    def do_configure(self, media):
        appsrc = media.get_element().get_child_by_name("src")
        state = {"n": 0}
        moving_frames = int(self.moving_s * self.fps)

        def need_data(src, _length):
            n = state["n"]
            image = self.frames[min(n, moving_frames, len(self.frames) - 1)]
            buffer = Gst.Buffer.new_wrapped(image)
            buffer.pts = n * Gst.SECOND // self.fps
            buffer.duration = Gst.SECOND // self.fps
            state["n"] = n + 1
            src.emit("push-buffer", buffer)

        appsrc.connect("need-data", need_data)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clip", required=True)
    parser.add_argument("--moving-s", type=float, default=3.0)
    parser.add_argument("--fps", type=int, default=15)
    args = parser.parse_args()
    Gst.init(None)
    width, height = 320, 240
    frames = decode_frames(args.clip, int(args.moving_s * args.fps) + 1, width, height)

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    live = GstRtspServer.RTSPMediaFactory()
    live.set_launch(f'( filesrc location="{args.clip}" ! decodebin ! {ENCODE} )')
    live.set_shared(True)
    mounts.add_factory("/live", live)
    mounts.add_factory("/freeze", FreezeFactory(frames, args.fps, args.moving_s, width, height))
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on 127.0.0.1:{args.port}")

    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    print("ready", flush=True)
    sys.stdout.flush()
    loop.run()


if __name__ == "__main__":
    main()
