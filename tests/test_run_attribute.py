"""The ``run`` attribute: available only until the greenlet starts."""
import pytest

from greenlet import getcurrent, greenlet

# Upstream's whole message for a greenlet that has no run callable (any more):
# just the attribute's name.
NO_RUN = "^run$"


def pause_then_finish():
    getcurrent().parent.switch()
    return "finished"


def test_readable_before_start():
    """The stored callable is exposed as-is."""
    g = greenlet(pause_then_finish)
    assert g.run is pause_then_finish


def test_assignable_before_start():
    """run may be swapped until the greenlet starts."""
    g = greenlet(pause_then_finish)
    g.run = lambda: "replacement"
    assert g.switch() == "replacement"


def test_unset_run_reads_as_attribute_error():
    """A greenlet created without run has no run attribute."""
    with pytest.raises(AttributeError, match=NO_RUN):
        greenlet().run


def test_gone_once_started():
    """The callable is dropped from view as soon as the greenlet starts."""
    g = greenlet(pause_then_finish)
    g.switch()
    with pytest.raises(AttributeError, match=NO_RUN):
        g.run
    g.switch()
    assert g.dead
    with pytest.raises(AttributeError, match=NO_RUN):
        g.run


def test_not_visible_from_inside_the_running_greenlet():
    """Starting is what hides it, even from the greenlet itself."""
    def body():
        try:
            getcurrent().run
        except AttributeError as e:
            return "no run while running: %s" % e
        return "run still visible"

    assert greenlet(body).switch() == "no run while running: run"


def test_cannot_be_set_after_start():
    """Changing run later could never take effect, so it is refused."""
    g = greenlet(pause_then_finish)
    g.switch()
    with pytest.raises(AttributeError) as info:
        g.run = pause_then_finish
    assert str(info.value) == "run cannot be set after the start of the greenlet"
    g.switch()
    with pytest.raises(AttributeError, match="^run cannot be set after the start of the greenlet$"):
        g.run = pause_then_finish


def test_delete_before_start_unsets_it():
    """Deleting run returns the greenlet to 'nothing to run'."""
    g = greenlet(pause_then_finish)
    del g.run
    with pytest.raises(AttributeError, match=NO_RUN):
        g.run
    # Without a run callable the greenlet cannot start and stays pending.
    with pytest.raises(AttributeError, match=NO_RUN):
        g.switch()
    assert not g.dead
    g.run = lambda: "restored"
    assert g.switch() == "restored"


def test_delete_after_start_is_refused():
    """Deletion goes through the same after-start check."""
    g = greenlet(pause_then_finish)
    g.switch()
    with pytest.raises(AttributeError, match="^run cannot be set after the start of the greenlet$"):
        del g.run
    g.switch()


def test_run_need_not_be_a_function():
    """Any callable will do, e.g. a bound method or a class."""

    class Box:
        def __init__(self, *contents):
            self.contents = contents

    box = greenlet(Box).switch(1, 2)
    assert isinstance(box, Box) and box.contents == (1, 2)
    assert greenlet([5, 6].pop).switch() == 6


def test_main_greenlet_has_no_run(main_greenlet):
    """The main greenlet runs the thread itself, not a callable."""
    with pytest.raises(AttributeError, match=r"^Main greenlets do not have a run attribute\.$"):
        main_greenlet.run
    with pytest.raises(AttributeError, match=r"^Main greenlets do not have a run attribute\.$"):
        main_greenlet.run = pause_then_finish
