"""eventlet on top of this greenlet: green pools, queues, timeouts, green sockets.

eventlet's hub and green threads are greenlets (eventlet is pure Python, so
this exercises the Python API: switch, throw, parent, getcurrent, GreenletExit,
dead/bool, gr_frame).

Every scenario runs in its own subprocess (sys.executable, same environment)
so eventlet's hub never lives in the pytest process; only the last scenario
calls ``eventlet.monkey_patch()``.  Each scenario prints ``key=value`` lines and
the test asserts on the exit status and those lines.  Networking is on
127.0.0.1 with OS-chosen ports; every wait is bounded (eventlet.Timeout inside,
a subprocess timeout outside).

Needs eventlet (tests/integration/requirements.txt); skipped without it.
"""
import sys
import textwrap

import pytest

pytest.importorskip(
    "eventlet",
    reason="eventlet is not installed (pip install -r tests/integration/requirements.txt)",
)

from _scenarios import run_scenario as _run  # noqa: E402

PRELUDE = """\
import sys
import warnings
warnings.simplefilter("ignore", DeprecationWarning)  # eventlet's own notice
{patch}
import eventlet
import greenlet
"""


def run_scenario(tmp_path, body, monkey_patch=False):
    patch = "import eventlet\neventlet.monkey_patch()\n" if monkey_patch else ""
    # Without EVENTLET_HUB, eventlet picks the platform default (epolls on Linux).
    return _run(tmp_path, PRELUDE.format(patch=patch), body, drop_env=("EVENTLET_HUB",))


def test_greenpool_200_green_threads(tmp_path):
    out, detail = run_scenario(tmp_path, """
        from eventlet.event import Event

        N = 200
        pool = eventlet.GreenPool(N)
        arrived = [0]
        peak = [0]
        everyone_here = Event()
        order = []

        def work(i):
            arrived[0] += 1
            peak[0] = max(peak[0], pool.running())
            if arrived[0] == N:
                everyone_here.send(True)
            # All N are alive together before anybody finishes.
            everyone_here.wait()
            for _ in range(i % 5):
                eventlet.sleep(0)
            order.append(i)
            return i * i

        with eventlet.Timeout(20):
            threads = [pool.spawn(work, i) for i in range(N)]
            results = [gt.wait() for gt in threads]
            pool.waitall()

            # imap keeps input order even though completion order differs.
            mapped = list(pool.imap(lambda x: (eventlet.sleep(0.001 * (x % 3)), -x)[1],
                                    range(N)))

            # A pool smaller than the work limits concurrency.
            small = eventlet.GreenPool(10)
            level = [0, 0]
            def limited(i):
                level[0] += 1
                level[1] = max(level[1], level[0])
                eventlet.sleep(0.001)
                level[0] -= 1
            for i in range(100):
                small.spawn_n(limited, i)
            small.waitall()

        print("results_ok=%s" % (results == [i * i for i in range(N)]))
        print("peak_running=%d" % peak[0])
        print("all_finished=%d" % len(order))
        print("order_differs=%s" % (order != sorted(order)))
        print("running_after=%d" % pool.running())
        print("free_after=%d" % pool.free())
        print("imap_ok=%s" % (mapped == [-i for i in range(N)]))
        print("small_peak=%d" % level[1])
    """)
    assert out["results_ok"] == "True", detail
    assert out["peak_running"] == "200", detail
    assert out["all_finished"] == "200", detail
    assert out["order_differs"] == "True", detail
    assert out["running_after"] == "0", detail
    assert out["free_after"] == "200", detail
    assert out["imap_ok"] == "True", detail
    assert out["small_peak"] == "10", detail


def test_queue_producers_and_consumers(tmp_path):
    out, detail = run_scenario(tmp_path, """
        from eventlet.queue import Queue, Empty

        PRODUCERS, CONSUMERS, ITEMS = 3, 4, 200
        q = Queue(maxsize=5)
        got = []
        per_consumer = {}

        def producer(p):
            for i in range(ITEMS):
                q.put((p, i))

        def consumer(c):
            n = 0
            while True:
                item = q.get(timeout=10)
                if item is None:
                    per_consumer[c] = n
                    return
                got.append(item)
                n += 1
                if n % 13 == 0:
                    eventlet.sleep(0)

        with eventlet.Timeout(20):
            consumers = [eventlet.spawn(consumer, c) for c in range(CONSUMERS)]
            producers = [eventlet.spawn(producer, p) for p in range(PRODUCERS)]
            for gt in producers:
                gt.wait()
            for _ in consumers:
                q.put(None)
            for gt in consumers:
                gt.wait()

        expected = sorted((p, i) for p in range(PRODUCERS) for i in range(ITEMS))
        print("all_items_once=%s" % (sorted(got) == expected))
        print("consumers_used=%d" % sum(1 for n in per_consumer.values() if n))
        print("per_producer_fifo=%s" % all(
            [i for (pp, i) in got if pp == p] == list(range(ITEMS))
            for p in range(PRODUCERS)))

        # get() on an empty queue with a timeout raises Empty, bounded.
        try:
            q.get(timeout=0.05)
            print("empty=no")
        except Empty:
            print("empty=raised")
    """)
    assert out["all_items_once"] == "True", detail
    assert int(out["consumers_used"]) >= 2, detail
    assert out["per_producer_fifo"] == "True", detail
    assert out["empty"] == "raised", detail


def test_timeout_and_kill(tmp_path):
    out, detail = run_scenario(tmp_path, """
        import time
        from eventlet.event import Event
        from eventlet.queue import Queue

        class Custom(Exception):
            pass

        def blocked_on_queue():
            t0 = time.monotonic()
            try:
                with eventlet.Timeout(0.2):
                    Queue().get()
            except eventlet.Timeout:
                elapsed = time.monotonic() - t0
                return "timeout" if 0.15 <= elapsed <= 5.0 else "timeout after %.2fs" % elapsed
            return "no timeout"

        def custom_exception():
            try:
                with eventlet.Timeout(0.1, Custom("custom")):
                    Event().wait()
            except Custom as e:
                return str(e)
            return "no timeout"

        def silent():
            with eventlet.Timeout(0.1, False):
                eventlet.sleep(10)
                return "not reached"
            return "silent"

        def in_time():
            with eventlet.Timeout(5):
                eventlet.sleep(0.01)
            return "finished"

        with eventlet.Timeout(10):
            jobs = [eventlet.spawn(f) for f in
                    (blocked_on_queue, custom_exception, silent, in_time)]
            values = [gt.wait() for gt in jobs]
        print("queue=%s" % values[0])
        print("custom=%s" % values[1])
        print("silent=%s" % values[2])
        print("in_time=%s" % values[3])

        # with_timeout returns the timeout_value instead of raising.
        print("with_timeout=%s" % eventlet.timeout.with_timeout(
            0.05, eventlet.sleep, 5, timeout_value="gave up"))

        # Killing a blocked green thread runs its finally block.
        record = []
        started = Event()
        def victim():
            try:
                started.send()
                eventlet.sleep(60)
                record.append("woke")
            except greenlet.GreenletExit:
                record.append("exit")
                raise
            finally:
                record.append("finally")
        with eventlet.Timeout(10):
            gt = eventlet.spawn(victim)
            started.wait()
            gt.kill()
            try:
                gt.wait()
                print("wait_after_kill=returned")
            except greenlet.GreenletExit:
                print("wait_after_kill=GreenletExit")
        print("killed_dead=%s" % gt.dead)
        print("record=%s" % ",".join(record))

        # Killing with a specific exception.
        with eventlet.Timeout(10):
            gt = eventlet.spawn(eventlet.sleep, 60)
            eventlet.sleep(0)
            gt.kill(Custom, "bye")
            try:
                gt.wait()
                print("custom_kill=none")
            except Custom as e:
                print("custom_kill=%s" % e)
    """)
    assert out["queue"] == "timeout", detail
    assert out["custom"] == "custom", detail
    assert out["silent"] == "silent", detail
    assert out["in_time"] == "finished", detail
    assert out["with_timeout"] == "gave up", detail
    assert out["wait_after_kill"] == "GreenletExit", detail
    assert out["killed_dead"] == "True", detail
    assert out["record"] == "exit,finally", detail
    assert out["custom_kill"] == "bye", detail


ECHO_BODY = """
    from eventlet.event import Event

    N = 200
    ROUNDS = 3
    server = eventlet.listen(("127.0.0.1", 0), backlog=512)
    port = server.getsockname()[1]
    print("server_socket_type=%s.%s" % (type(server).__module__, type(server).__name__))
    handled = [0]
    active = [0, 0]

    def handle(conn):
        active[0] += 1
        active[1] = max(active[1], active[0])
        try:
            while True:
                data = conn.recv(4096)
                if not data:
                    break
                conn.sendall(data)
        finally:
            active[0] -= 1
            handled[0] += 1
            conn.close()

    handlers = eventlet.GreenPool(N + 10)

    def accept_loop():
        for _ in range(N):
            conn, _addr = server.accept()
            handlers.spawn_n(handle, conn)

    connected = [0]
    all_connected = Event()

    def recv_exactly(conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise EOFError("server closed after %d bytes" % len(buf))
            buf += chunk
        return buf

    def client(i):
        conn = CONNECT(port)
        if i == 0:
            print("client_socket_type=%s.%s" % (type(conn).__module__, type(conn).__name__))
        try:
            ok = True
            for r in range(ROUNDS):
                msg = ("client %d round %d " % (i, r)).encode() * (i % 7 + 1)
                conn.sendall(msg)
                ok = ok and recv_exactly(conn, len(msg)) == msg
                if r == 0:
                    connected[0] += 1
                    if connected[0] == N:
                        all_connected.send(True)
                    all_connected.wait()
            return ok
        finally:
            conn.close()

    with eventlet.Timeout(30):
        acceptor = eventlet.spawn(accept_loop)
        clients = eventlet.GreenPool(N)
        oks = list(clients.imap(client, range(N)))
        acceptor.wait()
        handlers.waitall()
    server.close()

    print("ok_clients=%d" % sum(oks))
    print("handled=%d" % handled[0])
    print("peak_active=%d" % active[1])
"""


def test_green_socket_echo_200_clients(tmp_path):
    out, detail = run_scenario(tmp_path, textwrap.dedent("""
        def CONNECT(port):
            return eventlet.connect(("127.0.0.1", port))
    """) + textwrap.dedent(ECHO_BODY))
    assert out["server_socket_type"] == "eventlet.greenio.base.GreenSocket", detail
    assert out["client_socket_type"] == "eventlet.greenio.base.GreenSocket", detail
    assert out["ok_clients"] == "200", detail
    assert out["handled"] == "200", detail
    assert out["peak_active"] == "200", detail


def test_monkey_patched_stdlib_socket_and_threads(tmp_path):
    """After eventlet.monkey_patch(), plain socket and threading are green."""
    out, detail = run_scenario(tmp_path, textwrap.dedent("""
        import socket
        import threading

        print("patched_socket=%s" % eventlet.patcher.is_monkey_patched("socket"))
        print("patched_thread=%s" % eventlet.patcher.is_monkey_patched("thread"))

        def CONNECT(port):
            return socket.create_connection(("127.0.0.1", port), timeout=10)

        # Green "threads": a Thread's body is a green thread, so joins switch.
        seen = []
        def body(i):
            eventlet.sleep(0.001)
            seen.append((i, threading.current_thread().name))
        threads = [threading.Thread(target=body, args=(i,), name="t%d" % i)
                   for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        print("threads_done=%d" % len(seen))
        print("threads_alive=%d" % sum(t.is_alive() for t in threads))
    """) + textwrap.dedent(ECHO_BODY), monkey_patch=True)
    assert out["patched_socket"] == "True", detail
    assert out["patched_thread"] == "True", detail
    assert out["threads_done"] == "20", detail
    assert out["threads_alive"] == "0", detail
    assert out["client_socket_type"] == "eventlet.greenio.base.GreenSocket", detail
    assert out["ok_clients"] == "200", detail
    assert out["handled"] == "200", detail
    assert out["peak_active"] == "200", detail
