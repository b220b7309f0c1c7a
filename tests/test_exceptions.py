"""Exception classes and how exceptions travel between greenlets."""
import sys

import pytest

import greenlet as greenlet_module
from greenlet import GreenletExit, error, getcurrent, greenlet


class Boom(Exception):
    pass


class TestExceptionClasses:
    def test_greenlet_exit_is_base_exception_only(self):
        """Like SystemExit, so ``except Exception`` doesn't swallow a kill."""
        assert issubclass(GreenletExit, BaseException)
        assert not issubclass(GreenletExit, Exception)

    def test_error_is_an_exception(self):
        """greenlet.error reports misuse, so ordinary handlers should see it."""
        assert issubclass(error, Exception)
        assert not issubclass(error, GreenletExit)

    def test_names_and_module(self):
        """Tracebacks and pickled exception references use these names."""
        assert GreenletExit.__name__ == "GreenletExit"
        assert error.__name__ == "error"
        assert GreenletExit.__module__ == "greenlet"
        assert error.__module__ == "greenlet"

    def test_exported_from_package(self):
        """Both are importable straight from the package."""
        assert greenlet_module.GreenletExit is GreenletExit
        assert greenlet_module.error is error

    def test_reachable_from_the_type(self):
        """eventlet spells it greenlet.greenlet.GreenletExit."""
        assert greenlet.GreenletExit is GreenletExit
        assert greenlet.error is error

    def test_can_be_raised_and_caught_normally(self):
        """They are ordinary exception classes, usable outside switches."""
        with pytest.raises(GreenletExit, match=r"^by hand$"):
            raise GreenletExit("by hand")
        with pytest.raises(error, match=r"^by hand$"):
            raise error("by hand")


class TestPropagation:
    def test_exception_reaches_switcher_that_is_parent(self):
        """The common case: the parent is also the one who switched."""
        def body():
            raise Boom("from child")

        g = greenlet(body)
        with pytest.raises(Boom, match=r"^from child$"):
            g.switch()
        assert g.dead

    def test_exception_raised_after_resume(self):
        """Errors after the first leg arrive at the resuming switch() call."""
        main = getcurrent()

        def body():
            main.switch("first leg")
            raise Boom("second leg")

        g = greenlet(body)
        assert g.switch() == "first leg"
        with pytest.raises(Boom, match=r"^second leg$"):
            g.switch()

    def test_exception_goes_to_parent_not_to_switcher(self):
        """The parent, suspended elsewhere, receives the error in its switch
        call; the switcher only sees whatever the parent does next."""
        main = getcurrent()
        seen = []

        def guardian():
            try:
                main.switch("guardian ready")
            except Boom as exc:
                seen.append(str(exc))
                return "guardian handled it"

        guard = greenlet(guardian)
        assert guard.switch() == "guardian ready"

        def failing():
            raise Boom("child failed")

        child = greenlet(failing, parent=guard)
        assert child.switch() == "guardian handled it"
        assert seen == ["child failed"]
        assert child.dead and guard.dead

    def test_unhandled_in_parent_keeps_going_up(self):
        """An error nobody handles walks the whole parent chain."""
        main = getcurrent()

        def indifferent():
            main.switch()
            return "unreachable"

        middle = greenlet(indifferent)
        middle.switch()

        def failing():
            raise Boom("all the way up")

        child = greenlet(failing, parent=middle)
        with pytest.raises(Boom, match=r"^all the way up$"):
            child.switch()
        assert middle.dead

    def test_greenlet_exit_from_run_is_returned_to_parent(self):
        """A GreenletExit escaping run is a quiet death: it becomes the
        value the parent receives instead of being raised there."""
        def body():
            raise GreenletExit("quiet")

        result = greenlet(body).switch()
        assert type(result) is GreenletExit
        assert result.args == ("quiet",)

    def test_greenlet_exit_subclass_is_also_returned(self):
        """The quiet-death rule is an isinstance check, not an exact match."""
        class Finish(GreenletExit):
            pass

        def body():
            raise Finish("done")

        assert type(greenlet(body).switch()) is Finish

    def test_traceback_includes_the_child_frame(self):
        """Debugging relies on seeing where in the child the error began."""
        def deepest_failure():
            raise Boom("x")

        with pytest.raises(Boom, match=r"^x$") as info:
            greenlet(deepest_failure).switch()
        names = [entry.name for entry in info.traceback]
        assert "deepest_failure" in names

    def test_exception_state_is_per_greenlet(self):
        """sys.exc_info() inside one greenlet doesn't bleed into another."""
        main = getcurrent()

        def handler():
            try:
                raise Boom("inner")
            except Boom:
                main.switch(sys.exc_info()[0])
                return sys.exc_info()[0]

        g = greenlet(handler)
        assert sys.exc_info() == (None, None, None)
        assert g.switch() is Boom
        # Back in main: the child's in-flight exception is not ours.
        assert sys.exc_info() == (None, None, None)
        try:
            raise KeyError("main's own")
        except KeyError:
            # And when it resumes, the child still sees its own.
            assert g.switch() is Boom
            assert sys.exc_info()[0] is KeyError

    def test_system_exit_propagates_like_any_other(self):
        """Only GreenletExit is special; other BaseExceptions propagate."""
        def body():
            raise SystemExit(3)

        with pytest.raises(SystemExit, match=r"^3$") as info:
            greenlet(body).switch()
        assert info.value.code == 3
