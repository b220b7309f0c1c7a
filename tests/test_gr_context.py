"""gr_context: each greenlet has its own contextvars.Context slot."""
import contextvars

import pytest

from greenlet import getcurrent, greenlet

colour = contextvars.ContextVar("colour", default="unset")


@pytest.fixture(autouse=True)
def restore_colour():
    """Tests set ``colour`` in the main context; undo that afterwards."""
    token = colour.set("unset")
    yield
    colour.reset(token)


def test_none_before_first_use():
    """A new greenlet starts with no context at all, not a copy of ours."""
    assert greenlet(lambda: None).gr_context is None


def test_running_greenlet_sees_empty_context():
    """ContextVars set by the creator are not inherited."""
    colour.set("outer value")

    def body():
        return (getcurrent().gr_context, colour.get())

    assert greenlet(body).switch() == (None, "unset")


def test_context_created_on_first_set_is_visible_when_suspended():
    """The context made by a first set() is saved with the greenlet."""
    main = getcurrent()

    def painter():
        colour.set("red")
        main.switch()

    g = greenlet(painter)
    g.switch()
    ctx = g.gr_context
    assert type(ctx) is contextvars.Context
    assert ctx[colour] == "red"
    g.switch()


def test_values_do_not_leak_between_greenlets():
    """gr_context is what makes ContextVars greenlet-local."""
    main = getcurrent()
    colour.set("main's")

    def setter(value):
        colour.set(value)
        main.switch()
        return colour.get()

    a, b = greenlet(setter), greenlet(setter)
    a.switch("a")
    b.switch("b")
    assert colour.get() == "main's"
    assert a.switch() == "a"
    assert b.switch() == "b"


def test_assigned_context_is_used_when_started():
    """Frameworks preload a context before starting a task."""
    ctx = contextvars.Context()
    ctx.run(colour.set, "preloaded")
    g = greenlet(colour.get)
    g.gr_context = ctx
    assert g.gr_context is ctx
    assert g.switch() == "preloaded"


def test_copy_of_current_context_can_be_given():
    """The asyncio-like opt-in to inheriting the creator's values."""
    colour.set("inherited")
    g = greenlet(colour.get)
    g.gr_context = contextvars.copy_context()
    assert g.switch() == "inherited"


def test_set_to_none_resets():
    """None means 'start with an empty context'."""
    g = greenlet(colour.get)
    g.gr_context = contextvars.Context()
    g.gr_context = None
    assert g.gr_context is None
    assert g.switch() == "unset"


def test_running_greenlet_can_replace_its_own_context():
    """For the running greenlet the setter changes the live context."""
    def body():
        fresh = contextvars.Context()
        fresh.run(colour.set, "swapped in")
        me = getcurrent()
        me.gr_context = fresh
        return (colour.get(), me.gr_context is fresh)

    assert greenlet(body).switch() == ("swapped in", True)


@pytest.mark.parametrize("bogus", [{}, "ctx", 1, object()])
def test_non_context_is_rejected(bogus):
    """Only real Context objects (or None) are accepted."""
    g = greenlet(lambda: None)
    with pytest.raises(TypeError) as info:
        g.gr_context = bogus
    assert str(info.value) == "greenlet context must be a contextvars.Context or None"


def test_cannot_be_deleted():
    """There is always a context slot; removing it makes no sense."""
    g = greenlet(lambda: None)
    with pytest.raises(AttributeError):
        del g.gr_context
