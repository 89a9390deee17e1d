"""RTSP camera simulator: serve MPEG-TS files (H.264, optional AAC) as looping RTSP streams.

Run with Debian's python3, which has GStreamer's introspection bindings (`gi`); imports nothing
from Vigil or its virtual environment:

    /usr/bin/python3 gst_server.py --port 8554 cam1=/path/cam1.ts cam2=/path/cam2.ts

Prints `READY rtsp://HOST:PORT/` on stdout once serving (PORT is the bound port: --port 0 picks
a free one). Mount NAME is served as rtsp://HOST:PORT/NAME.

Why MPEG-TS and `multifilesrc loop=true`: the file is read again and again as one continuous
byte stream, and tsdemux treats the jump back in the TS clock at each loop as a discontinuity,
re-basing audio and video together. So timestamps keep increasing across loops, B-frames keep
their own PTS, audio stays in sync with video, and no Python code runs per packet. The RTSP
server's sinks sync to the clock, which paces the stream in real time.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any, NoReturn

INSTALL_HINT = (
    "apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base "
    "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad"
)
# Elements the pipelines use, and the Debian package that ships each.
ELEMENTS = {
    "multifilesrc": "gstreamer1.0-plugins-good",
    "tsdemux": "gstreamer1.0-plugins-bad",
    "h264parse": "gstreamer1.0-plugins-bad",
    "rtph264pay": "gstreamer1.0-plugins-good",
    "aacparse": "gstreamer1.0-plugins-good",
    "rtpmp4gpay": "gstreamer1.0-plugins-good",
}


def fail(message: str) -> NoReturn:
    print(f"ERROR: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8554, help="RTSP port (0: pick a free one)")
    parser.add_argument(
        "--watch-stdin",
        action="store_true",
        help="exit when stdin closes (the parent process ended)",
    )
    parser.add_argument("mounts", nargs="+", metavar="NAME=PATH", help="mount name and .ts file")
    args = parser.parse_args()
    mounts: dict[str, str] = {}
    for spec in args.mounts:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path or "/" in name:
            parser.error(f"mount must be NAME=PATH with NAME free of '/': {spec!r}")
        if name in mounts:
            parser.error(f"mount name used twice: {name!r}")
        mounts[name] = path
    args.mounts = mounts
    return args


def main() -> None:
    args = parse_args()
    try:
        import gi

        gi.require_version("Gst", "1.0")
        gi.require_version("GstPbutils", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, Gst, GstPbutils, GstRtspServer
    except (ImportError, ValueError) as exc:
        fail(f"GStreamer RTSP server not installed ({exc}): {INSTALL_HINT}")

    Gst.init(None)
    for element, package in ELEMENTS.items():
        if Gst.ElementFactory.find(element) is None:
            fail(f"GStreamer element {element!r} missing: apt-get install {package}")

    discoverer = GstPbutils.Discoverer.new(10 * Gst.SECOND)

    def has_audio(path: str) -> bool:
        """Check the file is H.264 in MPEG-TS, and whether it carries AAC audio."""
        try:
            info = discoverer.discover_uri(Gst.filename_to_uri(path))
        except GLib.Error as exc:
            fail(f"cannot read {path}: {exc.message}")
        container = info.get_stream_info().get_caps().get_structure(0).get_name()
        caps = [s.get_caps().get_structure(0).get_name() for s in info.get_stream_list()]
        if container != "video/mpegts" or "video/x-h264" not in caps:
            fail(f"{path} is not H.264 in MPEG-TS (found {caps}); prepare it with vigil simulate")
        return "audio/mpeg" in caps

    def refuse_seeking(_pad: Any, info: Any) -> Any:
        # tsdemux claims the looping source is seekable, so the RTSP server seeks on every PLAY,
        # which fails (and would rewind a stream shared with other clients). Returning HANDLED
        # without filling in the query answers its default, "not seekable": PLAY then joins
        # the running stream, as with a camera.
        if info.get_query().type == Gst.QueryType.SEEKING:
            return Gst.PadProbeReturn.HANDLED
        return Gst.PadProbeReturn.OK

    def on_media_configure(_factory: Any, media: Any) -> None:
        bin_ = media.get_element()
        for name in ("pay0", "pay1"):
            pay = bin_.get_by_name(name)
            if pay is not None:
                pay.get_static_pad("sink").add_probe(
                    Gst.PadProbeType.QUERY_UPSTREAM, refuse_seeking
                )

    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mount_points = server.get_mount_points()
    audio_cache: dict[str, bool] = {}
    for name, path in args.mounts.items():
        if path not in audio_cache:
            audio_cache[path] = has_audio(path)
        quoted = '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'
        # h264parse config-interval=-1 puts SPS/PPS before every keyframe, so a client joining a
        # shared stream late can decode from the next keyframe. (The payloader's own option
        # repeats them before every slice of a keyframe, which ffmpeg reads as two frames.)
        launch = (
            f"( multifilesrc location={quoted} loop=true ! tsdemux name=demux"
            " demux. ! video/x-h264 ! queue ! h264parse config-interval=-1"
            " ! rtph264pay name=pay0 pt=96"
        )
        if audio_cache[path]:
            launch += " demux. ! audio/mpeg ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97"
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch + " )")
        # One pipeline per mount, whoever watches: cheap, like a camera's single encoder.
        factory.set_shared(True)
        factory.connect("media-configure", on_media_configure)
        mount_points.add_factory(f"/{name}", factory)

    if server.attach(None) == 0:
        fail(f"cannot listen on {args.host}:{args.port} (port in use? try another --port)")
    host = "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host
    print(f"READY rtsp://{host}:{server.get_bound_port()}/", flush=True)

    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    if args.watch_stdin:

        def on_stdin(_fd: int, _cond: Any) -> bool:
            loop.quit()
            return False

        # Any readiness of stdin (data or hang-up) means the parent is gone or wants us gone.
        GLib.io_add_watch(
            sys.stdin.fileno(), GLib.PRIORITY_DEFAULT, GLib.IO_IN | GLib.IO_HUP, on_stdin
        )
    loop.run()


if __name__ == "__main__":
    main()
