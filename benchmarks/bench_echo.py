"""A gevent echo server under load from gevent clients in the same process, on loopback:
the switch-heavy work a gevent application does, timed with pyperf.

usage: python benchmarks/bench_echo.py [pyperf options] -o OUT.json

The server is gevent's ``StreamServer`` on 127.0.0.1 (a free port), one greenlet per
connection, echoing each 64-byte message back. ``CLIENTS`` client greenlets each hold one
connection and send their share of the messages one at a time, waiting for each echo. The
time is from when all clients are connected until the last echo has arrived, divided by
the number of messages: the cost of one request and response, in which every message
takes four switches (client and server, each waiting on its socket). Connecting is not
timed. Everything is bounded: a run that takes longer than ``TIMEOUT`` seconds fails.

Needs gevent. It measures whatever greenlet gevent imports, so it compares this project
with upstream when each is installed, with gevent, in a virtualenv of its own.
"""
import pyperf

import gevent
import gevent.event
import gevent.server
import gevent.socket

import greenlet

CLIENTS = 50
MESSAGE = b"x" * 63 + b"\n"
TIMEOUT = 60


def handle(sock, address):
    """Echo every line until the client closes."""
    reader = sock.makefile("rb")
    try:
        for line in reader:
            sock.sendall(line)
    finally:
        reader.close()


def client(port, count, go):
    """Connect, wait for the start, then send ``count`` messages one by one."""
    sock = gevent.socket.create_connection(("127.0.0.1", port))
    reader = sock.makefile("rb")
    try:
        go.wait()
        for _ in range(count):
            sock.sendall(MESSAGE)
            if reader.readline() != MESSAGE:
                raise AssertionError("the echo differs from the message")
    finally:
        reader.close()
        sock.close()


def bench_echo(loops):
    server = gevent.server.StreamServer(("127.0.0.1", 0), handle)
    server.start()
    try:
        go = gevent.event.Event()
        shares = [loops // CLIENTS + (1 if i < loops % CLIENTS else 0) for i in range(CLIENTS)]
        clients = [gevent.spawn(client, server.server_port, n, go) for n in shares if n]
        gevent.sleep(0.05)  # let every client connect
        with gevent.Timeout(TIMEOUT):
            start = pyperf.perf_counter()
            go.set()
            gevent.joinall(clients, raise_error=True)
            elapsed = pyperf.perf_counter() - start
    finally:
        server.stop()
    return elapsed


def main():
    runner = pyperf.Runner()
    runner.metadata["greenlet_version"] = greenlet.__version__
    runner.metadata["greenlet_file"] = greenlet.__file__
    runner.metadata["gevent_version"] = gevent.__version__
    mode = getattr(greenlet, "get_stack_mode", None)
    runner.metadata["greenlet_stack_mode"] = mode() if mode else "copying (upstream)"
    runner.bench_time_func("gevent_echo", bench_echo)


if __name__ == "__main__":
    main()
