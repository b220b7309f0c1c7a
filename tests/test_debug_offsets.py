"""The offsets table that readers outside the process use (greenlet.h,
``GreenletDebugOffsets``), checked from inside: walking this process's memory with the table
alone must find exactly the greenlets that ``greenlet.enumerate_all()`` reports, each in the
state it is in.
"""
import ctypes
import sys
import threading

import pytest

import greenlet
import greenlet._greenlet
from greenlet import getcurrent

pytestmark = pytest.mark.beyond_upstream(
    "upstream publishes no offsets table (greenlet_debug_offsets)")

FIELDS = ("version", "size", "python_version_hex", "free_threaded", "live_threads")
THREAD_FIELDS = ("size", "thread_id", "next", "main", "current", "registry_first", "registry_count")
GREENLET_FIELDS = ("size", "object", "registry_next", "parent", "stack_start", "stack_stop",
                   "saved_bytes", "is_main", "switches", "top_frame", "frame_kind")


class Table:
    """The table as the module filled it, read field by field as a reader would."""

    def __init__(self):
        library = ctypes.CDLL(greenlet._greenlet.__file__)
        self.address = ctypes.addressof(ctypes.c_char.in_dll(library, "greenlet_debug_offsets"))
        assert ctypes.string_at(self.address, 8) == b"greenlet"
        words = iter(range(8, 8 + 8 * (len(FIELDS) + len(THREAD_FIELDS) + len(GREENLET_FIELDS) + 1), 8))
        for name in FIELDS:
            setattr(self, name, u64(self.address + next(words)))
        self.thread = {name: u64(self.address + next(words)) for name in THREAD_FIELDS}
        self.greenlet = {name: u64(self.address + next(words)) for name in GREENLET_FIELDS}
        self.pimpl = u64(self.address + next(words))


def u64(address):
    return ctypes.c_uint64.from_address(address).value


def u8(address):
    return ctypes.c_uint8.from_address(address).value


def walk(table, limit=100_000):
    """{thread id: [(greenlet address, state address)]}, from the root, as a reader walks."""
    threads = {}
    thread = u64(table.live_threads)
    while thread and len(threads) < limit:
        states = []
        state = u64(thread + table.thread["registry_first"])
        while state and len(states) < limit:
            states.append((u64(state + table.greenlet["object"]), state))
            state = u64(state + table.greenlet["registry_next"])
        threads[u64(thread + table.thread["thread_id"])] = (thread, states)
        thread = u64(thread + table.thread["next"])
    return threads


def parked():
    getcurrent().parent.switch()


def test_the_header():
    table = Table()
    assert table.version == 1
    assert table.size == 8 + 8 * (len(FIELDS) + len(THREAD_FIELDS) + len(GREENLET_FIELDS) + 1)
    assert table.python_version_hex >> 16 == (sys.version_info[0] << 8) | sys.version_info[1]
    # pimpl is the last field of PyGreenlet, after weakreflist and dict, whatever the head.
    assert table.pimpl == greenlet.greenlet.__basicsize__ - 8
    assert table.greenlet["frame_kind"] == (1 if sys.version_info >= (3, 11) else 2)


def test_walking_the_registry_finds_what_enumerate_finds():
    table = Table()
    suspended = [greenlet.greenlet(parked) for _ in range(3)]
    for g in suspended:
        g.switch()
    ready, release = threading.Event(), threading.Event()
    box = {}

    def other_thread():
        box["glets"] = [greenlet.greenlet(parked) for _ in range(2)]
        for g in box["glets"]:
            g.switch()
        ready.set()
        release.wait(10)
        for g in box["glets"]:
            g.switch()
        box.clear()

    t = threading.Thread(target=other_thread)
    t.start()
    try:
        assert ready.wait(10)
        walked = walk(table)
        expected = greenlet.enumerate_all()
        assert set(walked) == set(expected)
        for thread_id, glets in expected.items():
            thread, states = walked[thread_id]
            assert [address for address, _ in states] == [id(g) for g in glets]
            assert u64(thread + table.thread["registry_count"]) == len(glets)
            assert u64(thread + table.thread["main"]) == id(glets[0])
            for g, (address, state) in zip(glets, states):
                # pimpl leads back to the same state.
                assert u64(address + table.pimpl) == state
                assert u8(state + table.greenlet["is_main"]) == (g.parent is None)
                assert u64(state + table.greenlet["switches"]) == g.gr_switches
                parent = u64(state + table.greenlet["parent"])
                assert parent == (id(g.parent) if g.parent is not None else 0)
                start = u64(state + table.greenlet["stack_start"])
                running = u64(thread + table.thread["current"]) == address
                if running:
                    assert start == 1
                else:
                    assert start > 1
                    assert u64(state + table.greenlet["stack_stop"]) > start
                    if g.parent is not None:
                        # A suspended greenlet's innermost Python frame is published.
                        assert u64(state + table.greenlet["top_frame"]) != 0
        here = walked[threading.get_ident()][0]
        assert u64(here + table.thread["current"]) == id(getcurrent())
    finally:
        release.set()
        t.join(10)
        for g in suspended:
            g.switch()
    assert all(g.dead for g in suspended)
    # Finished greenlets are off the registry.
    assert [a for a, _ in walk(table)[threading.get_ident()][1]] == [id(getcurrent())]
