"""gevent on top of this greenlet: servers, queues, kills, timeouts, joins.

gevent's hub and every gevent.Greenlet are greenlets, and its Cython-compiled
modules talk to greenlet through the C API capsule (greenlet._C_API), so this
is the widest consumer of both the Python API and the C ABI.

Every scenario runs in its own subprocess (sys.executable, same environment)
that starts with ``monkey.patch_all()``: the pytest process itself is never
patched.  Each scenario prints ``key=value`` lines; the test asserts on the exit
status and those lines.  All networking is on 127.0.0.1 with OS-chosen ports,
all waits are bounded (gevent.Timeout inside, a subprocess timeout outside).

Needs gevent (tests/integration/requirements.txt); skipped without it.
"""
import sys

import pytest

pytest.importorskip(
    "gevent",
    reason="gevent is not installed (pip install -r tests/integration/requirements.txt)",
)

import greenlet  # noqa: E402  (after the skip: only matters when gevent is there)

from _scenarios import run_scenario as _run  # noqa: E402

PRELUDE = """\
from gevent import monkey
monkey.patch_all()

import sys
import greenlet
"""


def run_scenario(tmp_path, body):
    # Either variable would make gevent skip its compiled modules.
    return _run(tmp_path, PRELUDE, body, drop_env=("PURE_PYTHON", "GEVENT_PURE_PYTHON"))


def test_compiled_modules_use_the_c_api(tmp_path):
    """gevent's Cython modules import and run: they link against greenlet's C API.

    Were greenlet's capsule missing or wrong, gevent would either fail to import
    these or (with PURE_PYTHON) fall back to its .py files.
    """
    out, detail = run_scenario(tmp_path, """
        import gevent, gevent.greenlet, gevent.hub, gevent.queue, gevent.event
        import gevent._greenlet_primitives, gevent._hub_local, gevent._waiter

        def file_of(name):
            return getattr(sys.modules[name], "__file__", "") or ""

        # gevent.greenlet replaces itself with gevent._gevent_cgreenlet.
        print("greenlet_mod=%s" % gevent.greenlet.Greenlet.__module__)
        print("greenlet_so=%s" % file_of(gevent.greenlet.Greenlet.__module__))
        print("primitives_so=%s" % file_of("gevent._greenlet_primitives"))
        print("waiter_so=%s" % file_of("gevent._waiter"))
        print("hub_local_so=%s" % file_of("gevent._hub_local"))
        print("queue_mod=%s" % gevent.queue.Queue.__module__)

        # The compiled Greenlet really is a greenlet subclass, and runs.
        print("is_subclass=%s" % issubclass(gevent.Greenlet, greenlet.greenlet))
        g = gevent.spawn(lambda: greenlet.getcurrent())
        g.join(timeout=5)
        print("current_is_self=%s" % (g.value is g))
        print("hub_parent_of_g=%s" % (g.parent is gevent.get_hub()))
        print("hub_is_greenlet=%s" % isinstance(gevent.get_hub(), greenlet.greenlet))
    """)
    assert out["greenlet_mod"] == "gevent._gevent_cgreenlet", detail
    for key in ("greenlet_so", "primitives_so", "waiter_so", "hub_local_so"):
        assert out[key].endswith(".so"), (key, detail)
    assert out["queue_mod"] == "gevent._gevent_cqueue", detail
    assert out["is_subclass"] == "True", detail
    assert out["current_is_self"] == "True", detail
    assert out["hub_parent_of_g"] == "True", detail
    assert out["hub_is_greenlet"] == "True", detail


def test_stream_server_200_concurrent_echo_clients(tmp_path):
    """200 clients, all connected at once, each doing three echo round trips."""
    out, detail = run_scenario(tmp_path, """
        import socket
        import gevent
        from gevent.event import Event
        from gevent.server import StreamServer

        N = 200
        ROUNDS = 3
        handled = []
        active = [0, 0]  # now, peak

        def handle(sock, addr):
            active[0] += 1
            active[1] = max(active[1], active[0])
            try:
                while True:
                    data = sock.recv(4096)
                    if not data:
                        break
                    sock.sendall(data)
            finally:
                active[0] -= 1
                handled.append(addr)

        server = StreamServer(("127.0.0.1", 0), handle, backlog=512)
        server.start()
        port = server.server_port
        # The socket module is patched: this is gevent's socket.
        print("socket_module=%s" % socket.socket.__module__)

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
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                replies = []
                for r in range(ROUNDS):
                    msg = ("client %d round %d " % (i, r)).encode() * (i % 7 + 1)
                    conn.sendall(msg)
                    replies.append(recv_exactly(conn, len(msg)) == msg)
                    if r == 0:
                        # Nobody goes on until all N are connected and echoed once.
                        connected[0] += 1
                        if connected[0] == N:
                            all_connected.set()
                        if not all_connected.wait(timeout=15):
                            raise RuntimeError("not all clients connected")
                return all(replies)
            finally:
                conn.close()

        with gevent.Timeout(30):
            clients = [gevent.spawn(client, i) for i in range(N)]
            gevent.joinall(clients, raise_error=True)
            # Handlers finish once they read EOF from the closed clients.
            while len(handled) < N:
                gevent.sleep(0.01)
        server.stop(timeout=5)

        print("ok_clients=%d" % sum(1 for g in clients if g.value is True))
        print("handled=%d" % len(handled))
        print("peak_active=%d" % active[1])
        print("server_closed=%s" % server.closed)
    """)
    assert out["socket_module"].startswith("gevent"), detail
    assert out["ok_clients"] == "200", detail
    assert out["handled"] == "200", detail
    # Everybody was connected at the same time (the barrier guarantees it).
    assert out["peak_active"] == "200", detail
    assert out["server_closed"] == "True", detail


def test_queue_producers_and_consumers(tmp_path):
    out, detail = run_scenario(tmp_path, """
        import gevent
        from gevent.queue import Queue

        PRODUCERS, CONSUMERS, ITEMS = 3, 4, 200
        q = Queue(maxsize=5)  # small: producers block and must be woken
        got = []
        per_consumer = {}
        blocked_puts = [0]

        def producer(p):
            for i in range(ITEMS):
                if q.full():
                    blocked_puts[0] += 1
                q.put((p, i))
            return p

        def consumer(c):
            n = 0
            while True:
                item = q.get(timeout=10)
                if item is StopIteration:
                    per_consumer[c] = n
                    return n
                got.append(item)
                n += 1
                if n % 17 == 0:
                    gevent.sleep(0)

        with gevent.Timeout(20):
            consumers = [gevent.spawn(consumer, c) for c in range(CONSUMERS)]
            producers = [gevent.spawn(producer, p) for p in range(PRODUCERS)]
            gevent.joinall(producers, raise_error=True)
            for _ in consumers:
                q.put(StopIteration)
            gevent.joinall(consumers, raise_error=True)

        expected = sorted((p, i) for p in range(PRODUCERS) for i in range(ITEMS))
        print("all_items_once=%s" % (sorted(got) == expected))
        print("total=%d" % sum(per_consumer.values()))
        print("consumers_used=%d" % sum(1 for n in per_consumer.values() if n))
        print("blocked_puts_seen=%s" % (blocked_puts[0] > 0))
        # FIFO per producer: each producer's items arrive in order.
        in_order = all(
            [i for (pp, i) in got if pp == p] == list(range(ITEMS))
            for p in range(PRODUCERS))
        print("per_producer_fifo=%s" % in_order)
        print("queue_empty=%s" % q.empty())
    """)
    assert out["all_items_once"] == "True", detail
    assert out["total"] == "600", detail
    assert int(out["consumers_used"]) >= 2, detail
    assert out["blocked_puts_seen"] == "True", detail
    assert out["per_producer_fifo"] == "True", detail
    assert out["queue_empty"] == "True", detail


def test_greenlet_kill_runs_finally(tmp_path):
    out, detail = run_scenario(tmp_path, """
        import gevent
        from gevent.event import Event

        record = []
        started = Event()

        def worker(name):
            try:
                started.set()
                gevent.sleep(60)
                record.append(name + ":not-killed")
            except gevent.GreenletExit:
                record.append(name + ":GreenletExit")
                raise
            except ValueError as e:
                record.append(name + ":ValueError:" + str(e))
                raise
            finally:
                record.append(name + ":finally")

        with gevent.Timeout(10):
            # Default kill: GreenletExit, block until dead.
            g1 = gevent.spawn(worker, "g1")
            assert started.wait(5)
            g1.kill(block=True, timeout=5)
            print("g1_dead=%s" % g1.dead)
            print("g1_successful=%s" % g1.successful())
            print("g1_value_is_exit=%s" % isinstance(g1.value, gevent.GreenletExit))

            # Kill with a specific exception instance.
            started.clear()
            g2 = gevent.spawn(worker, "g2")
            assert started.wait(5)
            g2.kill(ValueError("stop now"), block=True, timeout=5)
            print("g2_dead=%s" % g2.dead)
            print("g2_exception=%r" % (g2.exception,))

            # Killed before it ever ran: its function never starts.
            g3 = gevent.spawn(worker, "g3")
            g3.kill(block=True, timeout=5)
            print("g3_dead=%s" % g3.dead)

            # killall on several blocked greenlets.
            started.clear()
            many = [gevent.spawn(worker, "m%d" % i) for i in range(20)]
            gevent.sleep(0)
            gevent.killall(many, block=True, timeout=5)
            print("many_dead=%s" % all(g.dead for g in many))

        print("record=%s" % ",".join(record))
    """)
    record = out["record"].split(",")
    assert out["g1_dead"] == "True", detail
    assert out["g1_successful"] == "True", detail
    assert out["g1_value_is_exit"] == "True", detail
    assert record[:2] == ["g1:GreenletExit", "g1:finally"], detail
    assert out["g2_dead"] == "True", detail
    assert out["g2_exception"] == "ValueError('stop now')", detail
    assert record[2:4] == ["g2:ValueError:stop now", "g2:finally"], detail
    assert out["g3_dead"] == "True", detail
    assert not any(r.startswith("g3:") for r in record), detail
    assert out["many_dead"] == "True", detail
    for i in range(20):
        assert "m%d:finally" % i in record, detail
    assert not any(r.endswith(":not-killed") for r in record), detail


def test_timeout_fires_in_blocked_greenlets(tmp_path):
    out, detail = run_scenario(tmp_path, """
        import socket
        import time
        import gevent
        from gevent.event import Event

        class Custom(Exception):
            pass

        never = Event()

        def wait_on_event():
            t0 = time.monotonic()
            try:
                with gevent.Timeout(0.2):
                    never.wait()
            except gevent.Timeout as t:
                return ("timeout", round(time.monotonic() - t0, 1), t.seconds)
            return ("no timeout",)

        def wait_on_socket():
            # Patched socketpair: recv blocks in the hub, not in the kernel.
            a, b = socket.socketpair()
            try:
                with gevent.Timeout(0.2, Custom("socket")):
                    a.recv(10)
            except Custom as e:
                return "custom:%s" % e
            finally:
                a.close()
                b.close()
            return "no timeout"

        def silent():
            with gevent.Timeout(0.1, False):
                gevent.sleep(10)
                return "not reached"
            return "silent"

        def not_expired():
            with gevent.Timeout(5):
                gevent.sleep(0.01)
            return "finished"

        with gevent.Timeout(10):
            jobs = [gevent.spawn(f) for f in
                    (wait_on_event, wait_on_socket, silent, not_expired)]
            # Meanwhile, other greenlets keep running.
            ticks = [0]
            def ticker():
                while True:
                    ticks[0] += 1
                    gevent.sleep(0.01)
            t = gevent.spawn(ticker)
            gevent.joinall(jobs, raise_error=True)
            t.kill()

        kind, elapsed, seconds = jobs[0].value
        print("event=%s" % kind)
        print("event_elapsed_ok=%s" % (0.1 <= elapsed <= 5.0))
        print("event_seconds=%s" % seconds)
        print("socket=%s" % jobs[1].value)
        print("silent=%s" % jobs[2].value)
        print("not_expired=%s" % jobs[3].value)
        print("ticker_ran=%s" % (ticks[0] >= 3))

        # A Timeout raised into the main greenlet, too.
        try:
            gevent.Timeout(0.05).start()
            gevent.sleep(5)
            print("main=no timeout")
        except gevent.Timeout:
            print("main=timeout")
    """)
    assert out["event"] == "timeout", detail
    assert out["event_elapsed_ok"] == "True", detail
    assert out["event_seconds"] == "0.2", detail
    assert out["socket"] == "custom:socket", detail
    assert out["silent"] == "silent", detail
    assert out["not_expired"] == "finished", detail
    assert out["ticker_ran"] == "True", detail
    assert out["main"] == "timeout", detail


def test_joinall_with_timeout(tmp_path):
    out, detail = run_scenario(tmp_path, """
        import time
        import gevent

        fast = [gevent.spawn(lambda i=i: (gevent.sleep(0.01 * i), i)[1]) for i in range(5)]
        slow = [gevent.spawn(gevent.sleep, 30) for _ in range(3)]

        t0 = time.monotonic()
        done = gevent.joinall(fast + slow, timeout=1.0)
        elapsed = time.monotonic() - t0
        print("done_count=%d" % len(done))
        print("done_are_fast=%s" % (set(done) == set(fast)))
        print("fast_values=%s" % sorted(g.value for g in fast))
        print("slow_alive=%s" % all(not g.dead for g in slow))
        print("elapsed_ok=%s" % (0.9 <= elapsed <= 10.0))

        # count= returns as soon as that many have finished.
        more = [gevent.spawn(gevent.sleep, 0.01 * i) for i in range(4)]
        first_two = gevent.joinall(more, count=2, timeout=5)
        print("count_two=%d" % len(first_two))
        gevent.joinall(more, timeout=5)

        # raise_error=True re-raises a failure from the joined greenlets.
        def boom():
            raise KeyError("boom")
        try:
            gevent.joinall([gevent.spawn(boom)], timeout=5, raise_error=True)
            print("raised=none")
        except KeyError as e:
            print("raised=%s" % e)

        gevent.killall(slow, block=True, timeout=5)
        print("slow_dead=%s" % all(g.dead for g in slow))
    """)
    assert out["done_count"] == "5", detail
    assert out["done_are_fast"] == "True", detail
    assert out["fast_values"] == "[0, 1, 2, 3, 4]", detail
    assert out["slow_alive"] == "True", detail
    assert out["elapsed_ok"] == "True", detail
    assert out["count_two"] == "2", detail
    assert out["raised"] == "'boom'", detail
    assert out["slow_dead"] == "True", detail


@pytest.mark.beyond_upstream(
    "upstream has no greenlet.dump_stacks nor greenlet.set_context_inheritance")
def test_dump_stacks_of_clients_parked_in_recv_and_context_inheritance(tmp_path):
    """50 client greenlets blocked in a gevent socket's recv all show up in
    greenlet.dump_stacks, each at its recv line; with context inheritance on, a
    gevent.spawn'ed greenlet sees a ContextVar set before spawning."""
    out, detail = run_scenario(tmp_path, """
        import contextvars
        import inspect
        import io
        import re
        import socket
        import gevent

        N = 50
        parked = [0]

        def client_parked_in_recv(conn):
            parked[0] += 1
            data = conn.recv(64)  # the line the stacks must show
            return data

        lines, first = inspect.getsourcelines(client_parked_in_recv)
        recv_line = first + [i for i, text in enumerate(lines) if ".recv(" in text][0]

        pairs = [socket.socketpair() for _ in range(N)]
        with gevent.Timeout(20):
            clients = [gevent.spawn(client_parked_in_recv, a) for a, b in pairs]
            while parked[0] < N:
                gevent.sleep(0.01)
            gevent.sleep(0.05)  # all of them inside recv, waiting on the hub
            print("all_blocked=%s" % (not any(g.dead for g in clients)))

            buf = io.StringIO()
            greenlet.dump_stacks(file=buf)
            text = buf.getvalue()
            stacks = re.split(r"(?m)^(?=Greenlet <)", text)
            stacks = [s for s in stacks if s]
            print("stacks_total=%d" % len(stacks))
            at_recv = 'line %d, in client_parked_in_recv\\n' % recv_line
            print("stacks_at_recv=%d" % sum(1 for s in stacks if at_recv in s))
            print("suspended_at_recv=%d" % sum(
                1 for s in stacks if at_recv in s and s.splitlines()[0].endswith("(suspended):")))
            print("clients_listed=%d" % sum(
                1 for g in clients if any(e is g for e in greenlet.enumerate())))
            print("hub_listed=%s" % any(e is gevent.get_hub() for e in greenlet.enumerate()))
            # monkey.patch_all() replaced threading.get_ident (it gives an id per
            # greenlet): the calling thread must still be the OS thread.
            print("enumerate_here=%d" % len(greenlet.enumerate()))
            print("format_stacks_here=%d" % len(greenlet.format_stacks()))
            # The running stack ends at the caller, not inside dump_stacks.
            print("internal_frames=%s" % ("_stacks.py" in text))

            for i, (a, b) in enumerate(pairs):
                b.sendall(b"msg %d" % i)
            gevent.joinall(clients, raise_error=True)
        print("replies_ok=%s" % all(g.value == b"msg %d" % i for i, g in enumerate(clients)))
        for a, b in pairs:
            a.close()
            b.close()

        VAR = contextvars.ContextVar("VAR")
        VAR.set("set before spawning")
        g = gevent.spawn(VAR.get, "unset")
        g.join(timeout=5)
        print("default_sees=%s" % g.value)
        greenlet.set_context_inheritance(True)
        try:
            g = gevent.spawn(VAR.get, "unset")
            VAR.set("set after spawning")
            g.join(timeout=5)
            print("inherited_sees=%s" % g.value)
        finally:
            greenlet.set_context_inheritance(False)
    """)
    assert out["all_blocked"] == "True", detail
    # The main greenlet, the hub and the 50 clients at least.
    assert int(out["stacks_total"]) >= 52, detail
    assert out["stacks_at_recv"] == "50", detail
    assert out["suspended_at_recv"] == "50", detail
    assert out["clients_listed"] == "50", detail
    assert out["hub_listed"] == "True", detail
    assert out["replies_ok"] == "True", detail
    assert out["default_sees"] == "unset", detail
    assert out["inherited_sees"] == "set before spawning", detail
    assert out["format_stacks_here"] == out["enumerate_here"], detail
    assert out["internal_frames"] == "False", detail


def test_pytest_process_was_not_patched():
    """Belt and braces: the scenarios above patched only their subprocesses."""
    import socket
    import threading

    assert socket.socket.__module__ == "socket"
    assert threading.Lock.__module__ in ("_thread", "threading")
    if "gevent.monkey" in sys.modules:
        assert not sys.modules["gevent.monkey"].is_module_patched("socket")
