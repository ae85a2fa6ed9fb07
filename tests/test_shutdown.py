"""SIGTERM is bounded by --shutdown-timeout: the listener closes at once, requests under
way may finish until the timeout (and are applied and acknowledged), then are cancelled:
their clients get an error (a closed connection), never a 204 for a write that was not
applied. The WAL is flushed and the process exits."""
import socket
import threading
import time

import requests

from conftest import wait_until

T0 = 1_700_000_000_000_000_000


def lines(first, count):
    return "".join(f"cpu,host=h{i % 5} v={i}i {T0 + i}\n" for i in range(first, first + count))


def open_request(server, content_length):
    s = socket.create_connection(("127.0.0.1", server.http_port), timeout=30)
    s.sendall((f"POST /api/v3/write_lp?db=db HTTP/1.1\r\nHost: x\r\n"
               f"Content-Length: {content_length}\r\n\r\n").encode())
    return s


def read_answer(s, timeout=30):
    """What the server sent before closing: b"" for a closed or reset connection."""
    s.settimeout(timeout)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:
                break
    except (ConnectionResetError, socket.timeout):
        pass
    return out


def rows_after_restart(server, expected):
    """Rows after a restart: buffered (replayed) plus persisted, once the count settles
    on `expected` (a replayed snapshot being persisted is briefly counted twice)."""
    server.start()
    try:
        return server.total_rows("db", "cpu", expected=expected)
    finally:
        assert server.stop() == 0


def test_sigterm_cancels_a_dribbling_request_at_the_timeout(make_server):
    server = make_server(["--shutdown-timeout", "3s", "--http-body-timeout", "60s"]).start()
    assert server.write(lines(0, 10)).status_code == 204  # acknowledged before

    body = lines(10, 200_000).encode()  # ~6 MB, sent a few hundred bytes at a time
    s = open_request(server, len(body))
    stop = threading.Event()

    def dribble():
        sent = 0
        try:
            while not stop.is_set() and sent < len(body):
                s.sendall(body[sent:sent + 300])
                sent += 300
                time.sleep(0.02)
        except OSError:
            pass  # the server closed the connection

    t = threading.Thread(target=dribble)
    t.start()
    time.sleep(0.5)
    started = time.monotonic()
    server.proc.send_signal(15)
    # New connections are refused once the listener is closed.
    wait_until(lambda: not _connects(server), 5, "listener closed")
    rc = server.proc.wait(timeout=30)
    elapsed = time.monotonic() - started
    answer = read_answer(s, timeout=5)
    stop.set()
    t.join()
    s.close()
    assert elapsed < 3 + 3, (elapsed, server.log()[-3000:])
    assert b" 204 " not in answer, answer
    log = server.log()
    assert "still under way at --shutdown-timeout are cancelled" in log, log[-3000:]
    # The request took the whole timeout, so the acknowledged rows were not persisted:
    # they are in the (flushed) WAL, said in the log and the exit code.
    assert rc != 0
    assert "10 rows left to the WAL" in log, log[-3000:]
    # Nothing of the cancelled request was written; the acknowledged rows are there.
    assert rows_after_restart(server, 10) == 10


def test_sigterm_lets_a_request_under_way_finish_within_the_timeout(make_server):
    server = make_server(["--shutdown-timeout", "20s"]).start()
    body = lines(0, 1000).encode()
    s = open_request(server, len(body))
    s.sendall(body[:len(body) // 2])
    time.sleep(0.3)
    started = time.monotonic()
    server.proc.send_signal(15)
    time.sleep(0.5)
    s.sendall(body[len(body) // 2:])
    answer = read_answer(s)
    s.close()
    assert answer.startswith(b"HTTP/1.1 204 "), answer
    assert b"Connection: close" in answer, answer
    assert server.proc.wait(timeout=30) == 0
    assert time.monotonic() - started < 15
    assert rows_after_restart(server, 1000) == 1000


def _connects(server):
    try:
        socket.create_connection(("127.0.0.1", server.http_port), timeout=1).close()
        return True
    except OSError:
        return False
