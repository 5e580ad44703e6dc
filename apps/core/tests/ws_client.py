"""A minimal WebSocket client over a plain socket (RFC 6455: handshake, masked
text frames out, unmasked frames in), for tests that need a real TCP peer:
one that reads, or one that stops reading to test backpressure. The socket
options (a tiny receive buffer) are ours to set, which client libraries hide."""

import base64
import contextlib
import hashlib
import json
import os
import socket
import struct
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA


class Closed(Exception):
    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"closed: {code} {reason}")
        self.code = code


class RawWebSocket:
    def __init__(self, host: str, port: int, path: str, *, receive_buffer: int | None = None, timeout: float = 10):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise Closed(None, "no handshake answer")
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise Closed(None, status.decode(errors="replace"))
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()  # noqa: S324 - the protocol's
        assert f"sec-websocket-accept: {accept}".lower() in head.decode().lower()

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed(None, "connection closed by the server")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_text(self, text: str) -> None:
        self._send_frame(OP_TEXT, text.encode())

    def send_json(self, data) -> None:
        self.send_text(json.dumps(data))

    def recv_frame(self, timeout: float = 10) -> tuple[int, bytes]:
        self.sock.settimeout(timeout)
        first, second = self._read(2)
        opcode, length = first & 0x0F, second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read(8))
        return opcode, self._read(length)

    def recv_json(self, timeout: float = 10):
        """The next text message (answering pings, raising Closed on a close frame)."""
        deadline = time.monotonic() + timeout
        while True:
            opcode, payload = self.recv_frame(max(0.01, deadline - time.monotonic()))
            if opcode == OP_TEXT:
                return json.loads(payload)
            if opcode == OP_PING:
                self._send_frame(OP_PONG, payload)
            elif opcode == OP_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise Closed(code, payload[2:].decode(errors="replace"))

    def recv_until(self, predicate, timeout: float = 10):
        deadline = time.monotonic() + timeout
        while True:
            message = self.recv_json(max(0.01, deadline - time.monotonic()))
            if predicate(message):
                return message

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
