"""A real RTSP server on 127.0.0.1 for the live tests and the live benchmark (GStreamer's RTSP server).

Run with the system Python, which has the GStreamer bindings (``python3-gi``,
``gir1.2-gst-rtsp-server-1.0``); the project's virtual environment does not::

    /usr/bin/python3 tests/rtsp_server.py CLIP.mp4 --port 8554 [--path /cam] [--user U --password P]

It serves the H.264 packets of ``CLIP.mp4`` as they are (no re-encoding), in real time, from the
start of the clip for each new client. When the first packet of a session leaves, it prints
``playing <unix time>`` on stdout (the moment the clip's t = 0 was sent), so a caller can tell when
any moment of the clip went out. ``ready`` is printed once the server listens.
"""

from __future__ import annotations

import argparse
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def _on_configure(_factory: object, media: object) -> None:
    """Print the wall time when the first packet of this session goes out."""
    payloader = media.get_element().get_by_name("pay0")
    pad = payloader.get_static_pad("src")
    sent = [False]

    def probe(_pad: object, _info: object) -> object:
        if not sent[0]:
            sent[0] = True
            print(f"playing {time.time():.6f}", flush=True)
        return Gst.PadProbeReturn.REMOVE

    pad.add_probe(Gst.PadProbeType.BUFFER, probe)


def main() -> None:
    """Serve the clip until killed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("clip")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    location = args.clip.replace("\\", "\\\\").replace('"', '\\"')
    factory.set_launch(
        f'( filesrc location="{location}" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )'
    )
    factory.set_shared(False)
    factory.connect("media-configure", _on_configure)
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password or ""), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("viewer", "media.factory.access", True)
        permissions.add_permission_for_role("viewer", "media.factory.construct", True)
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        sys.exit(1)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
