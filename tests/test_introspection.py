"""Lifecycle introspection: dead, bool(), gr_frame and getcurrent()."""
import sys

import pytest

from greenlet import getcurrent, greenlet

from _support import frame_names


class TestDeadAndBool:
    """``dead`` and truthiness track pending -> active -> dead."""

    def test_pending(self):
        """Not started yet: neither dead nor active."""
        g = greenlet(lambda: None)
        assert g.dead is False
        assert bool(g) is False

    def test_suspended(self):
        """Started and switched away: alive."""
        main = getcurrent()
        g = greenlet(lambda: main.switch())
        g.switch()
        assert g.dead is False
        assert bool(g) is True
        g.switch()

    def test_running(self):
        """The current greenlet is alive from its own point of view."""
        def body():
            me = getcurrent()
            return (me.dead, bool(me))

        assert greenlet(body).switch() == (False, True)

    def test_finished_normally(self):
        """Returning from run ends the greenlet."""
        g = greenlet(lambda: None)
        g.switch()
        assert g.dead is True
        assert bool(g) is False

    def test_finished_with_exception(self):
        """An escaping exception ends it just the same."""
        def body():
            raise RuntimeError("boom")

        g = greenlet(body)
        with pytest.raises(RuntimeError, match="^boom$"):
            g.switch()
        assert g.dead is True
        assert bool(g) is False

    def test_parent_suspended_in_a_child_switch_is_alive(self):
        """A greenlet waiting for a child it switched into is still active."""

        def outer():
            me = getcurrent()
            return greenlet(lambda: (me.dead, bool(me))).switch()

        assert greenlet(outer).switch() == (False, True)

    def test_main_greenlet_is_alive(self, main_greenlet):
        """The main greenlet is active for the life of its thread."""
        assert main_greenlet.dead is False
        assert bool(main_greenlet) is True


class TestGrFrame:
    """gr_frame is only non-None for a suspended greenlet."""

    def test_not_started(self):
        """There is no stack to show yet."""
        assert greenlet(lambda: None).gr_frame is None

    def test_dead(self):
        """The frames are gone once run has returned."""
        g = greenlet(lambda: None)
        g.switch()
        assert g.gr_frame is None

    def test_current_greenlet(self):
        """A running greenlet's frames are live; only suspended ones are exposed."""
        assert getcurrent().gr_frame is None
        assert greenlet(lambda: getcurrent().gr_frame).switch() is None

    def test_suspended_points_at_the_switching_function(self):
        """Debuggers and profilers use this to show where a greenlet waits."""
        main = getcurrent()

        def sleeper():
            main.switch()

        g = greenlet(sleeper)
        g.switch()
        frame = g.gr_frame
        assert frame is not None
        assert frame.f_code is sleeper.__code__
        g.switch()
        assert g.gr_frame is None

    def test_nested_frames_are_linked_through_f_back(self):
        """The suspended stack can be walked, and ends at the run callable."""
        main = getcurrent()

        def leaf():
            main.switch()

        def branch():
            leaf()

        def trunk():
            branch()

        g = greenlet(trunk)
        g.switch()
        assert frame_names(g.gr_frame) == ["leaf", "branch", "trunk"]
        g.switch()

    def test_frame_locals_are_visible(self):
        """The saved frame is a real frame with its locals intact."""
        main = getcurrent()

        def holder(secret):
            marker = secret * 2
            main.switch()
            return marker

        g = greenlet(holder)
        g.switch(21)
        assert g.gr_frame.f_locals["marker"] == 42
        assert g.switch() == 42

    def test_main_greenlet_frame_seen_from_child(self):
        """While main waits in switch(), its frame is this test function."""
        here = getcurrent()
        g = greenlet(lambda: here.gr_frame.f_code)
        assert g.switch() is sys._getframe().f_code


class TestGetcurrent:
    def test_stable_identity(self):
        """getcurrent() returns the same object, not a fresh wrapper."""
        assert getcurrent() is getcurrent()

    def test_inside_child_is_the_child(self):
        """Inside a greenlet, getcurrent() is that greenlet."""
        g = greenlet(lambda: getcurrent())
        assert g.switch() is g

    def test_is_restored_after_child_finishes(self):
        """Returning from a child switches back to the caller's greenlet."""
        before = getcurrent()
        greenlet(lambda: None).switch()
        assert getcurrent() is before

    def test_subclass_instance_is_returned(self):
        """getcurrent() returns the subclass instance, not a base view."""
        class Mine(greenlet):
            def run(self):
                return getcurrent()

        m = Mine()
        assert m.switch() is m
