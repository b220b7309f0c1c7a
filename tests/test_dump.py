"""``python -m greenlet.dump PID``: every greenlet of another process, and its stack, read
from outside through /proc/PID/mem.

Each test starts a child that parks greenlets in functions with known names and lines,
waits until it says it is ready, dumps it, and checks the dump frame by frame.
"""
import os
import re
import subprocess
import sys
import textwrap

import pytest

from _support import child_env

pytestmark = pytest.mark.beyond_upstream("upstream has no greenlet.dump")

SUPPORTED = sys.version_info >= (3, 13)

CHILD = textwrap.dedent('''
    import sys
    import greenlet

    def parked_alpha():
        greenlet.getcurrent().parent.switch()              # line 6

    def parked_beta(n):
        if n == 0:
            greenlet.getcurrent().parent.switch()          # line 10
        else:
            parked_beta(n - 1)                              # line 12

    def parked_in_a_key(item):
        greenlet.getcurrent().parent.switch()               # line 15
        return item

    def sorts_through_c():
        return sorted([2, 1], key=parked_in_a_key)          # line 19

    glets = [greenlet.greenlet(parked_alpha), greenlet.greenlet(lambda: parked_beta(3)),
             greenlet.greenlet(sorts_through_c)]
    for g in glets:
        g.switch()
    print("ready", flush=True)
    sys.stdin.readline()                                    # line 26
''')


def run_dump(pid):
    return subprocess.run([sys.executable, "-m", "greenlet.dump", str(pid)], env=child_env(),
                          capture_output=True, text=True, timeout=60)


class Child:
    def __init__(self, source, tmp_path, env=None):
        script = tmp_path / "child.py"
        script.write_text(source)
        self.path = str(script)
        self.proc = subprocess.Popen([sys.executable, self.path], env=env or child_env(),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def __enter__(self):
        assert self.proc.stdout.readline().strip() == "ready"
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        assert self.proc.wait(60) == 0


def stacks(text):
    """{greenlet header: [(function, file, line)]}, in the order dumped."""
    out = {}
    header = None
    for line in text.splitlines():
        if line.startswith("  Greenlet "):
            header = line.strip()
            out[header] = []
        elif line.startswith("      ") and header is not None:
            m = re.match(r"^      (\S+) \((.*):(\d+|\?)\)$", line)
            assert m, line
            out[header].append((m.group(1), m.group(2), m.group(3)))
    return out


@pytest.mark.skipif(not SUPPORTED, reason="CPython publishes its debug offsets from 3.13")
def test_dump_shows_every_parked_greenlet_with_its_frames(tmp_path):
    with Child(CHILD, tmp_path) as child:
        result = run_dump(child.proc.pid)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    found = stacks(result.stdout)
    assert "4 live greenlets" in result.stdout
    f = child.path
    main = [h for h in found if " main (running" in h]
    assert len(main) == 1
    assert found[main[0]] == [("<module>", f, "26")]
    suspended = [found[h] for h in found if "(suspended" in h]
    assert sorted(suspended) == sorted([
        [("parked_alpha", f, "6")],
        [("parked_beta", f, "10"), ("parked_beta", f, "12"), ("parked_beta", f, "12"),
         ("parked_beta", f, "12"), ("<lambda>", f, "21")],
        # Suspended inside a call from C (sorted calls the key): the C entry frame is left out.
        [("parked_in_a_key", f, "15"), ("sorts_through_c", f, "19")],
    ])


@pytest.mark.skipif(SUPPORTED, reason="CPython 3.13 and later are supported")
def test_dump_says_plainly_that_older_pythons_are_not_supported(tmp_path):
    with Child(CHILD, tmp_path) as child:
        result = run_dump(child.proc.pid)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "greenlet.dump supports CPython 3.13, 3.14 and 3.15" in result.stderr


def test_dump_of_a_process_without_this_greenlet(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import sys; print('ready', flush=True); "
                              "sys.stdin.readline()"], env=child_env(),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        result = run_dump(child.pid)
    finally:
        child.stdin.close()
        child.wait(60)
    assert result.returncode == 1
    if SUPPORTED:
        assert "has no greenlet module with an offsets table" in result.stderr
    else:
        assert "greenlet.dump supports CPython 3.13, 3.14 and 3.15" in result.stderr


def test_bad_arguments():
    result = subprocess.run([sys.executable, "-m", "greenlet.dump", "not-a-pid"], env=child_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == "usage: python -m greenlet.dump PID\n"


GEVENT_CHILD = textwrap.dedent('''
    from gevent import monkey
    monkey.patch_all()
    import socket
    import sys
    import gevent
    from gevent.server import StreamServer

    def handle(sock, address):
        sock.recv(1)                                        # line 10

    def client_waits(port):
        conn = socket.create_connection(("127.0.0.1", port))
        conn.recv(1)                                        # line 14

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    clients = [gevent.spawn(client_waits, server.server_port) for _ in range(50)]
    gevent.sleep(0.5)
    print("ready", flush=True)
    gevent.get_hub().threadpool.spawn(sys.stdin.readline).get()   # line 21
    server.stop(timeout=1)
    gevent.killall(clients)
''')


@pytest.mark.integration
@pytest.mark.skipif(not SUPPORTED, reason="CPython publishes its debug offsets from 3.13")
def test_dump_of_a_gevent_server_with_parked_clients(tmp_path):
    pytest.importorskip("gevent", reason="gevent is not installed")
    with Child(GEVENT_CHILD, tmp_path) as child:
        result = run_dump(child.proc.pid)
    assert result.returncode == 0, result.stderr
    found = stacks(result.stdout)
    f = child.path
    # Each client greenlet is parked in gevent's hub, called from its recv: its stack goes
    # through client_waits at line 14; each connection's handler likewise through line 10.
    assert sum(("client_waits", f, "14") in frames for frames in found.values()) == 50
    assert sum(("handle", f, "10") in frames for frames in found.values()) == 50
