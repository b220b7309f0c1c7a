"""greenlet.throw(typ=GreenletExit, val=None, tb=None)."""
import sys
import traceback

import pytest

from greenlet import GreenletExit, getcurrent, greenlet


def _catch_anything():
    try:
        getcurrent().parent.switch("parked")
    except BaseException as exc:  # we want GreenletExit too
        return exc
    return "nothing was thrown"


class Catcher:
    """A suspended greenlet that reports whatever gets thrown into it.

    (Its run is a plain function, not a method, so no reference cycle can
    keep a suspended greenlet alive if a test bails out early.)
    """

    def __init__(self):
        self.glet = greenlet(_catch_anything)
        assert self.glet.switch() == "parked"


class Oops(Exception):
    pass


def test_default_is_greenlet_exit():
    """throw() with no arguments asks the greenlet to exit."""
    c = Catcher()
    exc = c.glet.throw()
    assert type(exc) is GreenletExit
    assert exc.args == ()
    assert c.glet.dead


def test_throw_class_instantiates_it():
    """A class is instantiated with no arguments."""
    exc = Catcher().glet.throw(Oops)
    assert type(exc) is Oops
    assert exc.args == ()


def test_throw_instance_is_raised_as_is():
    """The very same instance is raised, not a copy."""
    original = Oops("precise")
    exc = Catcher().glet.throw(original)
    assert exc is original


def test_throw_instance_with_none_value_is_allowed():
    """None as the value counts as 'no separate value'."""
    original = Oops("fine")
    assert Catcher().glet.throw(original, None) is original


def test_throw_class_and_value():
    """A non-tuple value becomes the single argument."""
    exc = Catcher().glet.throw(Oops, "with value")
    assert type(exc) is Oops
    assert exc.args == ("with value",)


def test_throw_class_and_tuple_value_expands_arguments():
    """Like the old ``raise typ, val`` form, a tuple value becomes the args."""
    exc = Catcher().glet.throw(Oops, ("a", "b"))
    assert exc.args == ("a", "b")


def test_throw_class_and_instance_of_it():
    """An instance given as value is used directly."""
    inst = Oops("already made")
    assert Catcher().glet.throw(Oops, inst) is inst


def test_throw_with_explicit_none_traceback():
    """None as traceback means 'no traceback'."""
    exc = Catcher().glet.throw(Oops, None, None)
    assert type(exc) is Oops


def test_throw_attaches_the_given_traceback():
    """The traceback we pass is kept in the chain the receiver sees."""

    def make_traceback():
        try:
            raise Oops("origin")
        except Oops:
            return sys.exc_info()

    typ, val, tb = make_traceback()
    exc = Catcher().glet.throw(typ, val, tb)
    assert exc is val
    names = [frame.name for frame in traceback.extract_tb(exc.__traceback__)]
    assert "make_traceback" in names
    assert "_catch_anything" in names


def test_uncaught_throw_propagates_back_to_thrower():
    """An exception the greenlet doesn't handle returns to its parent."""
    main = getcurrent()
    g = greenlet(lambda: main.switch())
    g.switch()
    with pytest.raises(Oops, match=r"^unhandled$"):
        g.throw(Oops("unhandled"))
    assert g.dead


def test_uncaught_greenlet_exit_becomes_return_value():
    """Asking a greenlet to exit is not an error for the thrower."""
    main = getcurrent()
    g = greenlet(lambda: main.switch())
    g.switch()
    result = g.throw(GreenletExit("polite"))
    assert isinstance(result, GreenletExit)
    assert result.args == ("polite",)
    assert g.dead


def test_greenlet_may_handle_throw_and_keep_running():
    """throw() is a switch: the greenlet can catch and switch back later."""

    def resilient():
        parent = getcurrent().parent
        seen = []
        while len(seen) < 2:
            try:
                parent.switch(list(seen))
            except Oops as exc:
                seen.append(exc.args[0])
        return seen

    g = greenlet(resilient)
    assert g.switch() == []
    assert g.throw(Oops, "first") == ["first"]
    assert g.throw(Oops, "second") == ["first", "second"]
    assert g.dead


class TestThrowIntoUnstarted:
    """A pending greenlet never runs; it dies with the exception instead."""

    def test_exception_propagates_and_run_never_called(self):
        """Throwing into a pending greenlet cancels it before it runs."""
        calls = []
        g = greenlet(lambda: calls.append("ran"))
        with pytest.raises(Oops) as info:
            g.throw(Oops)
        # The class was instantiated with no arguments: an empty message.
        assert str(info.value) == ""
        assert info.value.args == ()
        assert calls == []
        assert g.dead
        assert not g

    def test_greenlet_exit_is_returned_not_raised(self):
        """The usual GreenletExit rule applies to pending greenlets too."""
        calls = []
        g = greenlet(lambda: calls.append("ran"))
        result = g.throw()
        assert type(result) is GreenletExit
        assert calls == []
        assert g.dead

    def test_greenlet_exit_instance_is_returned_identically(self):
        """The exact instance is handed back."""
        sentinel = GreenletExit("exact")
        assert greenlet(lambda: None).throw(sentinel) is sentinel

    def test_exception_goes_to_parent_not_thrower(self):
        """The dead-on-arrival greenlet's parent receives the error."""
        main = getcurrent()

        def guardian():
            try:
                main.switch("guarding")
            except Oops as exc:
                return ("guardian caught", exc.args)

        guard = greenlet(guardian)
        assert guard.switch() == "guarding"
        ward = greenlet(lambda: "should not run", parent=guard)
        # ward dies immediately; its parent (guard) receives the Oops and
        # finishes; guard's return value comes to main, guard's parent.
        assert ward.throw(Oops, "via ward") == ("guardian caught", ("via ward",))
        assert ward.dead and guard.dead


class TestThrowIntoDead:
    """A dead greenlet forwards the exception to its parent (here: us)."""

    def _dead(self):
        g = greenlet(lambda: None)
        g.switch()
        assert g.dead
        return g

    def test_exception_raised_in_thrower(self):
        """Here we are the parent, so the error lands on us."""
        with pytest.raises(Oops, match=r"^to the grave$"):
            self._dead().throw(Oops("to the grave"))

    def test_greenlet_exit_is_returned(self):
        """A GreenletExit is turned into a return value instead."""
        result = self._dead().throw()
        assert type(result) is GreenletExit

    def test_greenlet_exit_instance_is_returned(self):
        """And it is the very instance we threw."""
        sentinel = GreenletExit("late")
        assert self._dead().throw(sentinel) is sentinel


class TestThrowArgumentErrors:
    """Bad arguments are rejected before any switch happens."""

    @pytest.fixture
    def victim(self):
        c = Catcher()
        yield c.glet
        # The greenlet must still be parked: nothing was thrown into it.
        assert not c.glet.dead
        assert c.glet.throw(GreenletExit) is not None
        assert c.glet.dead

    def test_third_argument_must_be_a_traceback(self, victim):
        """Upstream's exact message for a bad traceback."""
        with pytest.raises(TypeError) as info:
            victim.throw(Oops, None, "not a traceback")
        assert str(info.value) == "throw() third argument must be a traceback object"

    def test_instance_with_separate_value(self, victim):
        """An instance already carries its value; a second one is ambiguous."""
        with pytest.raises(TypeError) as info:
            victim.throw(Oops("inst"), "extra")
        assert str(info.value) == "instance exception may not have a separate value"

    @pytest.mark.parametrize(
        "bogus, type_name",
        [(42, "int"), ("text", "str"), (int, "type"), (object(), "object")],
    )
    def test_non_exception_type(self, victim, bogus, type_name):
        """Only exception classes and instances can be thrown."""
        with pytest.raises(TypeError) as info:
            victim.throw(bogus)
        assert str(info.value) == (
            "exceptions must be classes, or instances, not %s" % type_name
        )

    def test_too_many_arguments(self, victim):
        """The signature is at most (typ, val, tb)."""
        with pytest.raises(TypeError) as info:
            victim.throw(Oops, None, None, None)
        assert str(info.value) == "throw() takes at most 3 arguments (4 given)"

    def test_keywords_not_accepted(self, victim):
        """throw() is positional-only, like the C signature."""
        # CPython words this one; from 3.11 it prefixes the type's name.
        with pytest.raises(TypeError,
                           match=r"^(greenlet\.)?throw\(\) takes no keyword arguments$"):
            victim.throw(typ=Oops)


def test_throw_does_not_leak_into_thrower_exception_state():
    """After a handled throw, the thrower's own sys.exc_info() is unchanged."""
    main = getcurrent()

    def swallow():
        try:
            main.switch()
        except Oops:
            pass
        return "swallowed"

    g = greenlet(swallow)
    g.switch()
    try:
        raise KeyError("ours")
    except KeyError:
        assert g.throw(Oops) == "swallowed"
        assert sys.exc_info()[0] is KeyError
