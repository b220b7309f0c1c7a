"""Cases where upstream greenlet 3.5.6 crashes or loses data, and this build must not.

Each case runs in a child interpreter, so that a crash fails the test rather than end the
run (upstream segfaults on some of them).
"""
import pytest

from _support import run_python

# A parent that has never run starts when a child hands it a value: run(*value_tuple).
# A GreenletExit that ends a child is such a value, and upstream passes the exception object
# itself where the argument tuple belongs. That is undefined behaviour: CPython reads the
# exception's fields as a tuple's. Without a __dict__ the parent happens to get no arguments;
# with one (an attribute set on the exception), the process crashes.
EXIT_INTO_UNSTARTED_PARENT = '''
import sys
import greenlet

got = []

def parent_run(*args, **kwargs):
    got.append((args, kwargs))
    return "parent done"

def child():
    e = greenlet.GreenletExit("bye")
    if sys.argv[1] == "with-dict":
        e.note = "an attribute, so a __dict__"
    if sys.argv[2] == "raise":
        raise e
    # Finish, then have GreenletExit thrown into the dead greenlet: it goes to the parent.
    return e

p = greenlet.greenlet(parent_run)
g = greenlet.greenlet(child, parent=p)
if sys.argv[2] == "raise":
    result = g.switch()
else:
    # The child's return value starts the parent first; then a second parent, never
    # started, takes the GreenletExit thrown into the dead child.
    first = g.switch()
    assert first == "parent done", first
    got.clear()
    g.parent = greenlet.greenlet(parent_run)
    result = g.throw(greenlet.GreenletExit("bye"))
args, kwargs = got[0]
print(result, len(got), len(args), type(args[0]).__name__, args[0].args, kwargs)
'''


@pytest.mark.beyond_upstream(
    "upstream passes the GreenletExit object to a parent that never started in place of "
    "its argument tuple: the parent gets no arguments, or the process crashes when the "
    "exception has a __dict__")
@pytest.mark.parametrize("how", ["raise", "throw-into-dead"])
@pytest.mark.parametrize("attributes", ["with-dict", "no-dict"])
def test_greenlet_exit_reaches_a_parent_that_never_started_as_its_argument(attributes, how):
    child = run_python(EXIT_INTO_UNSTARTED_PARENT, attributes, how)
    lines = child.assert_clean()
    assert lines == ["parent done 1 1 GreenletExit ('bye',) {}"], child.detail
