"""The ``parent`` attribute: reading, re-parenting and its guard rails."""
import pytest

from greenlet import getcurrent, greenlet


def test_main_greenlet_has_no_parent(main_greenlet):
    """A missing parent is how the main greenlet is recognised."""
    assert main_greenlet.parent is None


def test_getcurrent_inside_child_has_creator_as_parent():
    """The default parent is the greenlet that created it."""
    here = getcurrent()
    g = greenlet(lambda: getcurrent().parent)
    assert g.switch() is here


def test_parent_chain_reaches_main(main_greenlet):
    """Every chain of parents ends at the thread's main greenlet."""
    def nest(depth):
        if depth == 0:
            chain = []
            g = getcurrent()
            while g is not None:
                chain.append(g)
                g = g.parent
            return chain
        return greenlet(nest).switch(depth - 1)

    chain = nest(3)
    assert len(chain) >= 4
    assert chain[-1] is main_greenlet


def test_reparenting_changes_where_results_go():
    """A greenlet's return value goes to whatever its parent is *now*."""
    main = getcurrent()

    def collector():
        return ("collector got", main.switch("collecting"))

    coll = greenlet(collector)
    assert coll.switch() == "collecting"
    worker = greenlet(lambda: "work result")
    worker.parent = coll
    assert worker.parent is coll
    assert worker.switch() == ("collector got", "work result")


def test_reparent_while_suspended():
    """A started greenlet can be re-parented and keeps running."""
    main = getcurrent()

    def sink():
        return ("sink", main.switch())

    s = greenlet(sink)
    s.switch()
    g = greenlet(lambda: main.switch("paused") + "!")
    assert g.switch() == "paused"
    g.parent = s
    assert g.switch("resumed") == ("sink", "resumed!")


def test_parent_must_be_a_greenlet():
    """Non-greenlets are rejected and the old parent kept."""
    g = greenlet(lambda: None)
    for bogus in (1, "main", object()):
        with pytest.raises(TypeError) as info:
            g.parent = bogus
        assert str(info.value) == (
            "GreenletChecker: Expected any type of greenlet, not %s" % type(bogus).__name__)
    assert g.parent is getcurrent()


def test_parent_cannot_be_set_to_none():
    """Unlike the constructor, the setter does not accept None."""
    g = greenlet(lambda: None)
    with pytest.raises(TypeError) as info:
        g.parent = None
    assert str(info.value) == "GreenletChecker: Expected any type of greenlet, not NoneType"


def test_type_error_message_names_offending_type():
    """Upstream's exact wording, which names the rejected type."""
    g = greenlet(lambda: None)
    with pytest.raises(TypeError) as info:
        g.parent = 3.5
    assert str(info.value) == "GreenletChecker: Expected any type of greenlet, not float"


def test_greenlet_subclass_is_an_acceptable_parent():
    """The check accepts any greenlet subclass."""
    class Sub(greenlet):
        pass

    owner = Sub(lambda: None)
    g = greenlet(lambda: None)
    g.parent = owner
    assert g.parent is owner


def test_self_parent_is_cyclic():
    """A greenlet can't be its own parent."""
    g = greenlet(lambda: None)
    with pytest.raises(ValueError) as info:
        g.parent = g
    assert str(info.value) == "cyclic parent chain"


def test_longer_cycle_is_detected():
    """The whole chain is walked, not just one level."""
    a = greenlet(lambda: None)
    b = greenlet(lambda: None, parent=a)
    c = greenlet(lambda: None, parent=b)
    with pytest.raises(ValueError, match="^cyclic parent chain$"):
        a.parent = c
    # Nothing changed.
    assert a.parent is getcurrent()


def test_cyclic_parent_in_constructor():
    """The constructor goes through the same check as the setter."""
    a = greenlet(lambda: None)
    b = greenlet(lambda: None, parent=a)
    with pytest.raises(ValueError, match="^cyclic parent chain$"):
        greenlet.__init__(a, None, b)


def test_parent_cannot_be_deleted():
    """Every non-main greenlet must have a parent."""
    g = greenlet(lambda: None)
    with pytest.raises(AttributeError) as info:
        del g.parent
    # greenlet raises this itself, so the wording is the same on every CPython.
    assert str(info.value) == "can't delete attribute"
    assert g.parent is getcurrent()


def test_main_greenlet_parent_cannot_be_set(main_greenlet):
    """The main greenlet must remain the root."""
    other = greenlet(lambda: None)
    with pytest.raises(AttributeError) as info:
        main_greenlet.parent = other
    assert str(info.value) == "cannot set the parent of a main greenlet"
    assert main_greenlet.parent is None


def test_main_greenlet_parent_cannot_be_deleted(main_greenlet):
    """Deleting is refused just like setting."""
    with pytest.raises(AttributeError) as info:
        del main_greenlet.parent
    assert str(info.value) == "can't delete attribute"
    assert main_greenlet.parent is None
