"""Helpers shared by the test modules: parked greenlets and child interpreters.

The suite is written against upstream greenlet's behaviour, so these helpers use
only the public API, and work with either implementation.
"""
import os
import subprocess
import sys
import sysconfig
import textwrap
from typing import NamedTuple

import greenlet
import greenlet._greenlet

# The directory that holds the `greenlet` package this process imported. Child
# interpreters get it first on PYTHONPATH, so that they import the same one.
GREENLET_HOME = os.path.dirname(os.path.dirname(os.path.abspath(greenlet.__file__)))

# True when the suite runs against this project's build, False against upstream
# greenlet (the CI runs the suite against both; see conftest.py).
IS_THIS_PROJECT = "(core in Swift)" in (greenlet._greenlet.__doc__ or "")

# Generous: the slowest child in the suite takes a few seconds on an idle machine.
CHILD_TIMEOUT = 60


def find_main():
    """The main greenlet of the calling thread."""
    g = greenlet.getcurrent()
    while g.parent is not None:
        g = g.parent
    return g


def parked_greenlet(result="parked"):
    """A started greenlet, suspended in a switch back to the caller.

    Switching to it again with a value ``v`` makes it return ``("resumed", v)``.
    """
    main = greenlet.getcurrent()

    def body():
        return ("resumed", main.switch(result))

    g = greenlet.greenlet(body)
    assert g.switch() == result
    return g


def frame_names(frame):
    """The function names of ``frame`` and the frames below it, innermost first."""
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return names


def assert_still_parked(g):
    """``g`` came from :func:`parked_greenlet` and still works: it resumes and ends."""
    assert not g.dead
    assert g
    assert g.switch("ok") == ("resumed", "ok")
    assert g.dead


class DroppedElsewhere(object):
    """A suspended greenlet of the calling thread whose last reference another thread drops,
    on demand (:meth:`drop`). Its kill is then queued for the calling thread, and runs at
    the next greenlet call there, inside whatever greenlet runs: ``log`` records its
    ``finally``.
    """

    def __init__(self):
        self.log = []

        def parked():
            try:
                greenlet.getcurrent().parent.switch()
            finally:
                self.log.append("victim finally")

        victim = greenlet.greenlet(parked)
        victim.switch()
        self._box = [victim]

    def drop(self):
        import threading
        dropper = threading.Thread(target=self._box.clear)
        dropper.start()
        dropper.join(CHILD_TIMEOUT)
        assert not dropper.is_alive()
        # With the GIL the dropping thread deallocates the victim, and queues its kill here.
        # A free-threaded CPython hands an object whose last reference another thread
        # dropped back to the thread that made it, which deallocates it at its next check
        # for pending work, wherever that is: the kill may have run already.
        if not sysconfig.get_config_var("Py_GIL_DISABLED"):
            assert self.log == [], "the victim's kill waits for its own thread"

    def assert_killed(self):
        greenlet.getcurrent()  # a greenlet call runs whatever kill is still queued
        assert self.log == ["victim finally"]


def child_env(drop=()):
    """The environment for a child interpreter: this greenlet first on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in drop and k != "PYTHONSTARTUP"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (GREENLET_HOME, env.get("PYTHONPATH")) if p)
    return env


class ChildResult(NamedTuple):
    """What a child interpreter did: its exit status and its output."""
    rc: int
    out: str
    err: str

    @property
    def detail(self):
        return "exit status %r\n--- stdout\n%s\n--- stderr\n%s" % (self.rc, self.out, self.err)

    def assert_clean(self, rc=0):
        """The child exited with ``rc`` and reported no crash; returns its stdout lines."""
        assert self.rc == rc, self.detail
        for bad in ("Fatal Python error", "Segmentation fault", "SystemError",
                    "Assertion", "core dumped"):
            assert bad not in self.err, self.detail
        return self.out.splitlines()


# Which greenlet a child imports, checked once per (directory, PYTHONPATH).
_checked_homes = set()


def _check_child_imports_this_greenlet(env, cwd):
    key = (cwd, env.get("PYTHONPATH"))
    if key in _checked_homes:
        return
    proc = subprocess.run(
        [sys.executable, "-c", "import greenlet._greenlet as m; print(m.__file__)"],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=CHILD_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == greenlet._greenlet.__file__, (
        "a child interpreter would import %s, not this process's %s"
        % (proc.stdout.strip(), greenlet._greenlet.__file__))
    _checked_homes.add(key)


def run_python(source=None, *args, script=None, timeout=CHILD_TIMEOUT, cwd=None,
               env_drop=(), env=None):
    """Run ``source`` (dedented), or the file ``script``, in a child interpreter.

    The child is this executable with this process's greenlet first on PYTHONPATH,
    and the helper checks, once per directory, that such a child imports that very
    greenlet: a test must never pass by testing some other installed copy.
    ``args`` become the child's ``sys.argv[1:]``. Returns a :class:`ChildResult`.
    """
    assert (source is None) != (script is None), "give source or script"
    child = child_env(env_drop)
    if env:
        child.update(env)
    cwd = str(cwd) if cwd is not None else None
    _check_child_imports_this_greenlet(child, cwd)
    if script is not None:
        argv = [sys.executable, str(script)]
    else:
        argv = [sys.executable, "-c", textwrap.dedent(source)]
    proc = subprocess.run(argv + [str(a) for a in args], env=child, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)
    return ChildResult(proc.returncode, proc.stdout, proc.stderr)
