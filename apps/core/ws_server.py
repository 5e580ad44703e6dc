"""How daphne's WebSocket protocol (autobahn) ends a connection it must fail,
for instance a frame over its size limit (1 MiB): by default autobahn drops
the TCP connection at once (`failByDrop`), which the client sees as a reset
with no reason. `websocket_fail_cleanly()` makes it send a close frame with
the code and reason (1009, "... exceeds payload limit ...") and finish the
closing handshake instead. Called from analytics_engine/asgi.py, which daphne
imports before it builds its protocol factory."""

import functools


def websocket_fail_cleanly() -> None:
    try:
        from daphne.ws_protocol import WebSocketFactory
    except ImportError:  # served by another ASGI server: nothing to adjust
        return
    original = WebSocketFactory.setProtocolOptions
    if getattr(original, "fails_cleanly", False):
        return

    @functools.wraps(original)
    def set_protocol_options(self, *args, **kwargs):
        kwargs.setdefault("failByDrop", False)
        return original(self, *args, **kwargs)

    set_protocol_options.fails_cleanly = True
    WebSocketFactory.setProtocolOptions = set_protocol_options
