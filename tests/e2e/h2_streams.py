"""What a hostile HTTP/2 client can make of rawserve's streams, frame by frame with Debian's
python3-h2 stack (hpack to encode, hyperframe to read), over h2c. Run by
tests/e2e/h2_streams_test.ts:

    /usr/bin/python3 tests/e2e/h2_streams.py PORT SCENARIO [ARG]

Frames the h2 state machine would refuse to send (WINDOW_UPDATE of 0, DATA past Content-Length,
a stream depending on itself) are built by hand. The result is one JSON line on stdout.
"""

import json
import socket
import struct
import sys
import time

import hpack
from hyperframe.frame import Frame

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, GOAWAY, WINDOW_UPDATE = 0, 1, 2, 3, 4, 7, 8
END_STREAM, END_HEADERS = 0x1, 0x4
INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE = 4, 5


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


class Client:
    """One connection: frames out by hand, frames in parsed by hyperframe."""

    def __init__(self, port, settings=()):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.encoder = hpack.Encoder()
        self.buf = b""
        self.closed = False
        self.frames = []
        payload = b"".join(struct.pack(">HI", k, v) for k, v in settings)
        self.send(PREFACE + frame(SETTINGS, 0, 0, payload))

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            self.closed = True
            return False

    def headers(self, stream, path, method="GET", extra=(), end_stream=True):
        fields = [(":method", method), (":scheme", "http"), (":path", path), (":authority", "a")]
        block = self.encoder.encode(fields + list(extra))
        return frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), stream, block)

    def read(self, seconds, until=None):
        """Frames until `seconds` pass, the server closes, or `until(frame)` is true."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.closed:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(262144)
            except socket.timeout:
                break
            except OSError:
                self.closed = True
                break
            if not data:
                self.closed = True
                break
            self.buf += data
            while len(self.buf) >= 9:
                head, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) < 9 + length:
                    break
                head.parse_body(memoryview(self.buf[9 : 9 + length]))
                self.buf = self.buf[9 + length :]
                self.frames.append(head)
                if until and until(head):
                    return
        return

    def of(self, kind):
        return [f for f in self.frames if f.type == kind]

    def goaway(self):
        found = self.of(GOAWAY)
        return int(found[-1].error_code) if found else None


def count(port, path):
    """The number the app answers `path` with, over a connection of its own."""
    client = Client(port)
    client.send(client.headers(1, path))
    client.read(3, lambda f: f.type == DATA and "END_STREAM" in f.flags)
    client.sock.close()
    return int(b"".join(bytes(f.data) for f in client.of(DATA)) or b"-1")


def provoked_resets(port, mode):
    """Streams the server itself resets, as fast as the socket takes them (the reviewer's t3)."""
    before = count(port, "/count")
    client = Client(port)
    batch = b""
    for i in range(5000):
        stream = 2 * i + 1
        if mode == "content-length":
            batch += client.headers(stream, "/count", "POST", [("content-length", "0")], False)
            batch += frame(DATA, 0, stream, b"x")
        elif mode == "window-update-0":
            batch += client.headers(stream, "/count") + frame(WINDOW_UPDATE, 0, stream, struct.pack(">I", 0))
        else:  # a stream that depends on itself
            batch += client.headers(stream, "/count") + frame(PRIORITY, 0, stream, struct.pack(">IB", stream, 16))
        if len(batch) > 8000:
            # Read between batches: once the server closes, what it sent before may be lost
            # to the reset that bytes sent after the close provoke.
            if not client.send(batch) or (client.read(0.001) or client.of(GOAWAY)):
                break
            batch = b""
    else:
        client.send(batch)
    client.read(3, lambda f: f.type == GOAWAY)
    client.sock.close()
    return {"goaway": client.goaway(), "calls": count(port, "/count") - before - 1}


def slow_resets(port):
    """Slow handlers whose streams the server resets (DATA past Content-Length): how many run at once."""
    client = Client(port)
    batch = b""
    for i in range(150):
        stream = 2 * i + 1
        batch += client.headers(stream, "/slow", "POST", [("content-length", "0")], False)
        batch += frame(DATA, 0, stream, b"x")
    client.send(batch)
    client.read(1)
    refused = sum(1 for f in client.of(RST_STREAM) if f.error_code == 7)
    client.sock.close()
    return {"max": count(port, "/max"), "refused": refused, "goaway": client.goaway()}


def claimed_body(port):
    """A handler reads one chunk and answers; the client never ends its body."""
    client = Client(port)
    client.send(client.headers(1, "/claim", "POST", end_stream=False) + frame(DATA, 0, 1, b"abc"))
    start = time.monotonic()
    client.read(10)
    resets = [int(f.error_code) for f in client.of(RST_STREAM) if f.stream_id == 1]
    return {"resets": resets, "closed": client.closed, "seconds": time.monotonic() - start}


def empty_data(port, padded):
    """A body that stalls after one byte while empty (or padding-only) DATA frames keep coming."""
    client = Client(port)
    client.send(client.headers(1, "/echo", "POST", end_stream=False) + frame(DATA, 0, 1, b"a"))
    start = time.monotonic()
    status = None
    while time.monotonic() - start < 6 and status is None and not client.closed:
        client.send(frame(DATA, 0x8, 1, b"\x05" + b"\0" * 5) if padded else frame(DATA, 0, 1))
        client.read(0.2)
        for f in client.of(HEADERS):
            status = hpack.Decoder().decode(bytes(f.data))[0][1]
    return {"status": status, "seconds": time.monotonic() - start}


def trickle(port, streams):
    """Window 0 for every stream; one byte of window a few times a second on stream 1 only."""
    client = Client(port, [(INITIAL_WINDOW_SIZE, 0)])
    client.send(b"".join(client.headers(2 * i + 1, "/big.bin") for i in range(streams)))
    start = time.monotonic()
    while time.monotonic() - start < 3:
        client.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 1)))
        client.read(0.25)
    resets = {}
    for f in client.of(RST_STREAM):
        resets[str(f.stream_id)] = int(f.error_code)
    data = sum(len(f.data) for f in client.of(DATA) if f.stream_id == 1)
    client.sock.close()
    return {"resets": resets, "stream1Bytes": data, "goaway": client.goaway()}


def big_frames(port):
    """SETTINGS_MAX_FRAME_SIZE 2^24-1 and open windows: the sizes of the DATA frames of /mem."""
    client = Client(port, [(INITIAL_WINDOW_SIZE, 0x7FFFFFFF), (MAX_FRAME_SIZE, 0xFFFFFF)])
    client.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7FFFFFFF - 65535)) + client.headers(1, "/mem"))
    client.read(10, lambda f: f.type == DATA and "END_STREAM" in f.flags)
    sizes = [len(f.data) for f in client.of(DATA)]
    client.sock.close()
    return {"frames": len(sizes), "largest": max(sizes or [0]), "bytes": sum(sizes)}


if __name__ == "__main__":
    port, scenario = int(sys.argv[1]), sys.argv[2]
    arg = sys.argv[3] if len(sys.argv) > 3 else ""
    run = {
        "provoked_resets": lambda: provoked_resets(port, arg),
        "slow_resets": lambda: slow_resets(port),
        "claimed_body": lambda: claimed_body(port),
        "empty_data": lambda: empty_data(port, arg == "padded"),
        "trickle": lambda: trickle(port, int(arg)),
        "big_frames": lambda: big_frames(port),
    }[scenario]
    print(json.dumps(run()))
