"""Creating greenlets: the constructor, subclassing and explicit __init__."""
import pytest

from greenlet import getcurrent, greenlet


def answer():
    return 42


def test_no_arguments_gives_pending_greenlet_parented_to_creator():
    """A bare greenlet() is valid; its parent defaults to the creator."""
    g = greenlet()
    assert g.parent is getcurrent()
    assert not g.dead
    assert not g


def test_run_positional():
    """The first positional argument is the callable to run."""
    g = greenlet(answer)
    assert g.run is answer
    assert g.switch() == 42


def test_run_keyword():
    """The documented signature is greenlet(run=None, parent=None)."""
    g = greenlet(run=answer)
    assert g.run is answer
    assert g.switch() == 42


def test_parent_positional_and_keyword():
    """Both spellings of the parent argument are accepted."""
    owner = greenlet(answer)
    assert greenlet(answer, owner).parent is owner
    assert greenlet(run=answer, parent=owner).parent is owner
    assert greenlet(parent=owner).parent is owner


def test_parent_none_means_current():
    """parent=None is the same as not passing a parent at all."""
    g = greenlet(answer, None)
    assert g.parent is getcurrent()
    g = greenlet(run=answer, parent=None)
    assert g.parent is getcurrent()


def test_constructor_parent_must_be_a_greenlet():
    """The parent type check also applies at construction time."""
    with pytest.raises(TypeError) as info:
        greenlet(answer, parent="not a greenlet")
    assert str(info.value) == "GreenletChecker: Expected any type of greenlet, not str"


def test_constructor_rejects_extra_positional_arguments():
    """Only run and parent exist; a third argument is a caller bug."""
    with pytest.raises(TypeError) as info:
        greenlet(answer, None, None)
    assert str(info.value) == "green() takes at most 2 arguments (3 given)"


def test_constructor_rejects_unknown_keywords():
    """Catches typos such as threading-style target= early."""
    # CPython's argument parser words this; 3.13 changed the wording, so either
    # one, whole (test_interpreter_state checks which one goes with which version).
    with pytest.raises(TypeError, match=(
            r"^(green\(\) got an unexpected keyword argument 'target'"
            r"|'target' is an invalid keyword argument for green\(\))$")):
        greenlet(answer, target=answer)


def test_explicit_run_none_is_stored_but_fails_when_started():
    """greenlet(None) stores None (unlike greenlet()), and calling it fails.

    The TypeError happens *inside* the new greenlet, so the greenlet is dead
    afterwards and the error reaches the switcher as its parent.
    """
    g = greenlet(None)
    assert g.run is None
    with pytest.raises(TypeError) as info:
        g.switch()
    assert str(info.value) == "'NoneType' object is not callable"
    assert g.dead


def test_missing_run_raises_attribute_error_and_stays_pending():
    """Switching to a greenlet with nothing to run fails before starting it."""
    g = greenlet()
    with pytest.raises(AttributeError) as info:
        g.switch()
    assert str(info.value) == "run"
    assert not g.dead
    assert not g
    # It is still usable once given something to run.
    g.run = answer
    assert g.switch() == 42


class Doubler(greenlet):
    """A subclass providing ``run`` as an ordinary method."""

    def run(self, value):
        return value * 2


def test_subclass_run_method():
    """The classic pattern: override run instead of passing a callable."""
    g = Doubler()
    assert isinstance(g, greenlet)
    assert g.switch(21) == 42
    assert g.dead


def test_subclass_run_method_wins_over_constructor_argument():
    """A class-level ``run`` shadows the callable given to the constructor.

    The greenlet starts by looking up ``self.run`` and the method found on the
    subclass is a non-data descriptor that comes first in the MRO.
    """
    g = Doubler(lambda value: "constructor callable")
    assert g.switch(5) == 10


def test_subclass_run_method_still_readable_after_start():
    """Unlike the built-in attribute, a subclass method does not vanish."""
    main = getcurrent()

    class Pauser(greenlet):
        def run(self):
            main.switch()

    g = Pauser()
    g.switch()
    assert g.run.__func__ is Pauser.run
    g.switch()
    assert g.dead


class Task(greenlet):
    """Mimics the eventlet / SQLAlchemy pattern: a custom __init__ that
    takes its own arguments and forwards to greenlet.__init__ explicitly."""

    def __init__(self, func, label, parent=None):
        greenlet.__init__(self, self._wrapper, parent)
        self.func = func
        self.label = label

    def _wrapper(self, *args):
        return (self.label, self.func(*args))


def test_subclass_calls_base_init_directly():
    """The explicit base-class call must set run and default the parent."""
    t = Task(lambda a, b: a + b, "adder")
    assert t.parent is getcurrent()
    assert t.switch(2, 3) == ("adder", 5)


def test_subclass_calls_base_init_with_explicit_parent():
    """A parent passed through the explicit __init__ call must be honoured."""
    main = getcurrent()
    trail = []

    def middle():
        child = Task(lambda: "done", "child", parent=main)
        trail.append(child.parent is main)
        # The child's parent is main, so its result skips us entirely.
        child.switch()
        trail.append("never reached")

    m = greenlet(middle)
    assert m.switch() == ("child", "done")
    assert trail == [True]
    # Clean up the greenlet we deliberately left suspended.
    m.throw()
    assert m.dead


def test_subclass_new_ignores_constructor_arguments():
    """greenlet.__new__ accepts (and ignores) whatever the subclass __init__
    takes, so subclasses are free to choose their own signature."""

    class Weird(greenlet):
        def __init__(self, a, b, c, d=None):
            super().__init__()
            self.total = a + b + c

        def run(self):
            return self.total

    w = Weird(1, 2, 3, d="ignored")
    assert w.switch() == 6


def test_subclass_init_keyword_forwarding():
    """Forwarding **kwargs to greenlet.__init__ must reach run and parent."""
    class KW(greenlet):
        def __init__(self, **kwargs):
            greenlet.__init__(self, **kwargs)

    owner = greenlet(answer)
    g = KW(run=answer, parent=owner)
    assert g.run is answer
    assert g.parent is owner


def test_init_can_be_called_again_before_start():
    """Re-running __init__ on a pending greenlet replaces run and parent."""
    first = greenlet(answer)
    other = greenlet(answer)
    g = greenlet(lambda: 1)
    greenlet.__init__(g, answer, other)
    assert g.run is answer
    assert g.parent is other
    greenlet.__init__(g, parent=first)
    assert g.run is answer  # untouched when not given
    assert g.parent is first
