"""A loopback TCP proxy in front of a MongoDB wire-protocol server that throttles like Cosmos DB.

It forwards every message, except that it answers some ``insert`` commands itself, as
Cosmos DB's MongoDB API does when a request exceeds the provisioned rate:

* ``whole``: the command fails with error 16500 and ``RetryAfterMs=N``; nothing is written;
* ``partial``: the insert is forwarded and stored, but the reply claims the second half
  of its documents failed with 16500 (a lost acknowledgement): they must not be duplicated.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import bson

OP_MSG = 2013
THROTTLED = {"code": 16500, "codeName": "RequestRateTooLarge"}


@dataclass
class Throttle:
    """How many inserts to throttle, and how; counts what was done."""

    whole: int = 0
    partial: int = 0
    retry_after_ms: int = 20
    injected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_action(self) -> str | None:
        with self.lock:
            if self.whole:
                self.whole -= 1
                self.injected.append("whole")
                return "whole"
            if self.partial:
                self.partial -= 1
                self.injected.append("partial")
                return "partial"
        return None


def _read_message(sock: socket.socket) -> bytes | None:
    header = _read_exact(sock, 16)
    if header is None:
        return None
    (length,) = struct.unpack("<i", header[:4])
    body = _read_exact(sock, length - 16)
    return None if body is None else header + body


def _read_exact(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _command(message: bytes) -> tuple[dict, int] | None:
    """(first section's command document, number of documents sent) of an OP_MSG."""
    _, request_id, _, op_code = struct.unpack("<iiii", message[:16])
    if op_code != OP_MSG:
        return None
    position, command, documents = 20, None, 0
    while position < len(message):
        kind = message[position]
        position += 1
        (size,) = struct.unpack("<i", message[position : position + 4])
        if kind == 0:
            command = bson.decode(message[position : position + size])
        else:  # a document sequence: identifier, then documents
            end = position + size
            cursor = message.index(b"\x00", position + 4) + 1
            while cursor < end:
                (doc_size,) = struct.unpack("<i", message[cursor : cursor + 4])
                cursor += doc_size
                documents += 1
        position += size
    if command is None:
        return None
    return command, documents or len(command.get("documents", []))


def _reply(request: bytes, document: dict) -> bytes:
    (request_id,) = struct.unpack("<i", request[4:8])
    body = struct.pack("<I", 0) + b"\x00" + bson.encode(document)
    return struct.pack("<iiii", 16 + len(body), request_id + 1_000_000, request_id, OP_MSG) + body


def _serve(client: socket.socket, upstream_address: tuple[str, int], throttle: Throttle) -> None:
    upstream = socket.create_connection(upstream_address)
    try:
        while True:
            message = _read_message(client)
            if message is None:
                return
            parsed = _command(message)
            action = throttle.next_action() if parsed and "insert" in parsed[0] else None
            hint = f"Request rate is large. RetryAfterMs={throttle.retry_after_ms}"
            if action == "whole":
                client.sendall(_reply(message, {"ok": 0.0, "errmsg": hint, **THROTTLED}))
                continue
            upstream.sendall(message)
            answer = _read_message(upstream)
            if answer is None:
                return
            if action == "partial" and parsed is not None:
                count = parsed[1]
                failed = list(range(count // 2, count))
                errors = [{"index": i, "errmsg": hint, **THROTTLED} for i in failed]
                answer = _reply(message, {"ok": 1.0, "n": count - len(failed), "writeErrors": errors})
            client.sendall(answer)
    except OSError:
        return
    finally:
        upstream.close()
        client.close()


@contextmanager
def throttling_proxy(upstream_port: int, throttle: Throttle) -> Iterator[int]:
    """Listen on a free loopback port and proxy to ``upstream_port``; yield the proxy's port."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(
                target=_serve, args=(client, ("127.0.0.1", upstream_port), throttle), daemon=True
            ).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
