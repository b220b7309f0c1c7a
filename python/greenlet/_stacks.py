"""Where every greenlet is: ``format_stacks`` and ``dump_stacks``.

A gevent or eventlet program blocked somewhere has hundreds of greenlets parked in their
``switch()``; these print each one's Python stack the way ``traceback`` prints a thread's.
"""
import sys
import traceback

from . import _greenlet


def _header(glet, thread_id, state):
    return "Greenlet %r in thread %d (%s):\n" % (glet, thread_id, state)


def _format_one(glet, thread_id, running_frame):
    """The header and stack of one live greenlet, as a single string."""
    if running_frame is not None:
        frame, state = running_frame, "running"
    else:
        frame, state = glet.gr_frame, "suspended"
        if frame is None and not glet.dead:
            # A free-threaded build does not read frames another live thread may resume.
            return _header(glet, thread_id, state) + "  (its stack cannot be read from this thread)\n"
    return _header(glet, thread_id, state) + "".join(traceback.format_stack(frame))


def _this_thread(running):
    """The calling thread's id, as the registry knows it. Not ``threading.get_ident()``:
    gevent's monkey-patching makes that return an id per greenlet."""
    current = _greenlet.getcurrent()
    for thread_id, glet in running.items():
        if glet is current:
            return thread_id
    raise RuntimeError("the calling thread is not in the greenlet registry")


def _format_thread(thread_id, glets, caller_frame, running):
    here = _this_thread(running)
    out = []
    for glet in glets:
        frame = None
        if glet is running.get(thread_id):
            # The running greenlet's stack is its thread's live one.
            frame = caller_frame if thread_id == here else sys._current_frames().get(thread_id)
            if frame is None:
                out.append(_header(glet, thread_id, "running") + "  (its thread runs no Python code now)\n")
                continue
        out.append(_format_one(glet, thread_id, frame))
    return out


def format_stacks(thread=None):
    """For each live greenlet of ``thread`` (default: the calling one), main greenlet first,
    a string: a header line, then its stack as ``traceback.format_stack`` gives it. The
    running greenlet's stack is the live one, up to the caller of this function.

    ``thread`` is a thread id or a ``threading.Thread``.
    """
    running = _greenlet._running_greenlets()
    thread_id = _this_thread(running) if thread is None else _thread_id(thread)
    return _format_thread(thread_id, _greenlet.enumerate(thread_id), sys._getframe(1), running)


def dump_stacks(file=None, all_threads=True):
    """Writes ``format_stacks()`` to ``file`` (default: ``sys.stderr``), for every thread that
    uses greenlets, or only for the calling one if ``all_threads`` is false."""
    if file is None:
        file = sys.stderr
    caller = sys._getframe(1)
    running = _greenlet._running_greenlets()
    here = _this_thread(running)
    if all_threads:
        threads = sorted(_greenlet.enumerate_all().items(), key=lambda item: item[0] != here)
    else:
        threads = [(here, _greenlet.enumerate())]
    for thread_id, glets in threads:
        file.write("".join(_format_thread(thread_id, glets, caller, running)))
    file.flush()


def _thread_id(thread):
    if isinstance(thread, int):
        return thread
    ident = getattr(thread, "ident", None)
    if not isinstance(ident, int):
        raise TypeError("thread must be a thread id or a started threading.Thread, not %s"
                        % type(thread).__name__)
    return ident
