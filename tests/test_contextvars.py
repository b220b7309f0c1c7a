"""Context variables and gr_context: each greenlet has its own contextvars.Context
slot. Identity, lifecycle, errors, threads and Context.run()."""
import contextvars
import threading

import pytest

import greenlet
from greenlet import getcurrent

colour = contextvars.ContextVar("colour", default="unset")
request_id = contextvars.ContextVar("request_id")
depth = contextvars.ContextVar("depth", default=0)

NOT_A_CONTEXT = "greenlet context must be a contextvars.Context or None"
CANNOT_DELETE = "can't delete context attribute"
OTHER_THREAD_GET = ("cannot get context of a greenlet that is running in a "
                    "different thread")
OTHER_THREAD_SET = ("cannot set context of a greenlet that is running in a "
                    "different thread")


@pytest.fixture
def main_colour_restored():
    """For tests that set ``colour`` in the main context: undo that afterwards."""
    token = colour.set("unset")
    yield
    colour.reset(token)


def run_in_context(ctx, func, *args):
    """Start a greenlet for func inside *ctx* (by assignment, not run())."""
    g = greenlet.greenlet(func)
    g.gr_context = ctx
    return g, g.switch(*args)


# ---------------------------------------------------------------------------
# By default each greenlet has a context of its own, empty at first
# ---------------------------------------------------------------------------

def test_running_greenlet_sees_empty_context(main_colour_restored):
    """ContextVars set by the creator are not inherited."""
    colour.set("outer value")

    def body():
        return (getcurrent().gr_context, colour.get())

    assert greenlet.greenlet(body).switch() == (None, "unset")


def test_context_created_on_first_set_is_visible_when_suspended():
    """The context made by a first set() is saved with the greenlet."""
    main = getcurrent()

    def painter():
        colour.set("red")
        main.switch()

    g = greenlet.greenlet(painter)
    g.switch()
    ctx = g.gr_context
    assert type(ctx) is contextvars.Context
    assert ctx[colour] == "red"
    g.switch()


def test_own_context_per_greenlet_by_default():
    """gr_context is what makes ContextVars greenlet-local: values do not leak
    between greenlets, nor from or to the main greenlet."""
    main = getcurrent()
    token = request_id.set("main value")
    try:
        results = {}

        def body(name):
            results[name] = [request_id.get("unset")]
            request_id.set(name)
            main.switch()
            results[name].append(request_id.get())

        glets = {n: greenlet.greenlet(body) for n in ("x", "y", "z")}
        for n, g in glets.items():
            g.switch(n)
        # While they are suspended, main still sees its own value.
        assert request_id.get() == "main value"
        contexts = [g.gr_context for g in glets.values()]
        assert len({id(c) for c in contexts}) == 3
        assert all(isinstance(c, contextvars.Context) for c in contexts)
        for g in reversed(list(glets.values())):
            g.switch()
        assert results == {n: ["unset", n] for n in glets}
        assert request_id.get() == "main value"
    finally:
        request_id.reset(token)


def test_copy_of_current_context_can_be_given(main_colour_restored):
    """The asyncio-like opt-in to inheriting the creator's values."""
    colour.set("inherited")
    g = greenlet.greenlet(colour.get)
    g.gr_context = contextvars.copy_context()
    assert g.switch() == "inherited"


# ---------------------------------------------------------------------------
# The assigned Context is used as-is
# ---------------------------------------------------------------------------

def test_assigned_context_object_is_the_live_one_not_a_copy():
    ctx = contextvars.Context()

    def body():
        inside = getcurrent().gr_context
        request_id.set("r-17")
        depth.set(depth.get() + 1)
        return inside

    g, inside = run_in_context(ctx, body)
    assert inside is ctx
    # Writes made by the greenlet landed in the very object we handed over.
    assert ctx[request_id] == "r-17"
    assert ctx[depth] == 1
    assert g.gr_context is ctx  # even after it finished


def test_changes_made_through_the_context_reach_a_suspended_greenlet():
    main = getcurrent()
    ctx = contextvars.Context()
    ctx.run(request_id.set, "before")

    def body():
        seen = [request_id.get()]
        main.switch()
        seen.append(request_id.get())
        return seen

    g, _ = run_in_context(ctx, body)
    assert g.gr_context is ctx
    # Something outside updates the shared context while the greenlet sleeps.
    ctx.run(request_id.set, "after")
    assert g.switch() == ["before", "after"]


def test_two_greenlets_sharing_one_context_see_each_others_writes():
    main = getcurrent()
    shared = contextvars.Context()

    def writer():
        request_id.set("written by writer")
        main.switch()

    def reader():
        return request_id.get("nothing")

    w = greenlet.greenlet(writer)
    r = greenlet.greenlet(reader)
    w.gr_context = shared
    r.gr_context = shared
    w.switch()
    assert r.switch() == "written by writer"
    w.switch()
    assert shared[request_id] == "written by writer"


def test_main_greenlet_gr_context_is_the_current_context():
    ctx = contextvars.Context()

    def probe():
        return getcurrent().gr_context

    # Run the probe in the main greenlet, but under ctx, via Context.run.
    assert ctx.run(probe) is ctx


# ---------------------------------------------------------------------------
# gr_context across the lifecycle
# ---------------------------------------------------------------------------

def test_unstarted_greenlet_context_can_be_set_read_and_replaced():
    """A new greenlet has no context at all (not a copy of ours) until it starts;
    frameworks preload one before starting a task, and the last one assigned is used."""
    a, b = contextvars.Context(), contextvars.Context()
    b.run(request_id.set, "b")
    g = greenlet.greenlet(lambda: request_id.get("none"))
    assert g.gr_context is None
    g.gr_context = a
    assert g.gr_context is a
    g.gr_context = b
    assert g.gr_context is b
    assert g.switch() == "b"


def test_replacing_context_of_suspended_greenlet_takes_effect_on_resume():
    main = getcurrent()

    def body():
        request_id.set("original")
        main.switch()
        return request_id.get("missing")

    g = greenlet.greenlet(body)
    g.switch()
    original = g.gr_context
    assert original[request_id] == "original"
    replacement = contextvars.Context()
    replacement.run(request_id.set, "replacement")
    g.gr_context = replacement
    assert g.gr_context is replacement
    assert g.switch() == "replacement"
    # The old context object was not touched.
    assert original[request_id] == "original"


def test_clearing_the_context_means_an_empty_one():
    """None means 'start, or resume, with an empty context'."""
    # An unstarted greenlet.
    g = greenlet.greenlet(colour.get)
    g.gr_context = contextvars.Context()
    g.gr_context = None
    assert g.gr_context is None
    assert g.switch() == "unset"

    # A suspended greenlet.
    main = getcurrent()

    def body():
        request_id.set("v")
        main.switch()
        return (request_id.get("gone"), getcurrent().gr_context)

    g = greenlet.greenlet(body)
    g.switch()
    assert g.gr_context is not None
    g.gr_context = None
    assert g.gr_context is None
    value, ctx = g.switch()
    assert value == "gone"
    assert ctx is None


def test_dead_greenlet_keeps_and_accepts_a_context():
    def body():
        request_id.set("last")

    g = greenlet.greenlet(body)
    g.switch()
    assert g.dead
    assert g.gr_context[request_id] == "last"
    other = contextvars.Context()
    g.gr_context = other
    assert g.gr_context is other
    g.gr_context = None
    assert g.gr_context is None


def test_context_run_inside_a_greenlet_is_reflected_in_gr_context():
    main = getcurrent()
    inner = contextvars.Context()

    def nested():
        main.switch("inside run")
        return "left run"

    def body():
        return inner.run(nested)

    g = greenlet.greenlet(body)
    assert g.switch() == "inside run"
    assert g.gr_context is inner
    assert g.switch() == "left run"
    assert g.gr_context is None


def test_main_greenlet_context_survives_child_switches():
    token = request_id.set("main")
    try:
        before = getcurrent().gr_context
        greenlet.greenlet(lambda: request_id.set("child")).switch()
        assert getcurrent().gr_context is before
        assert request_id.get() == "main"
    finally:
        request_id.reset(token)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("bogus", [
    pytest.param({}, id="dict"),
    pytest.param("ctx", id="str"),
    pytest.param(1, id="int"),
    pytest.param(object(), id="object"),
    pytest.param(request_id, id="ContextVar"),
    pytest.param(lambda: None, id="function"),
    pytest.param(contextvars.copy_context, id="copy_context-itself"),
    pytest.param(b"", id="bytes"),
    pytest.param(0.5, id="float"),
    pytest.param([], id="list"),
])
def test_bad_values_rejected_in_every_state(bogus):
    """Only real Context objects (or None) are accepted, and a refused value
    leaves the context as it was."""
    main = getcurrent()
    pending = greenlet.greenlet(lambda: None)
    suspended = greenlet.greenlet(lambda: main.switch())
    suspended.switch()
    dead = greenlet.greenlet(lambda: None)
    dead.switch()
    for g in (pending, suspended, dead, main):
        before = g.gr_context
        with pytest.raises(TypeError) as info:
            g.gr_context = bogus
        assert str(info.value) == NOT_A_CONTEXT
        assert g.gr_context is before
    suspended.switch()


def test_deleting_is_refused_in_every_state():
    """There is always a context slot; removing it makes no sense."""
    main = getcurrent()
    suspended = greenlet.greenlet(lambda: main.switch())
    suspended.switch()
    dead = greenlet.greenlet(lambda: None)
    dead.switch()
    pending = (greenlet.greenlet(), greenlet.greenlet(lambda: None))
    for g in pending + (suspended, dead, main):
        with pytest.raises(AttributeError) as info:
            del g.gr_context
        assert str(info.value) == CANNOT_DELETE
    suspended.switch()


def test_deleting_from_inside_the_running_greenlet():
    def body():
        try:
            del getcurrent().gr_context
        except AttributeError as e:
            return str(e)

    assert greenlet.greenlet(body).switch() == CANNOT_DELETE


# ---------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------

class ParkedThread(object):
    """A thread that sits in its main greenlet (so that greenlet is
    *running* there) with a suspended child, until released."""

    def __init__(self):
        self.ready = threading.Event()
        self.release = threading.Event()
        self.box = {}
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        ctx = contextvars.copy_context()
        ctx.run(self._body)

    def _body(self):
        request_id.set("thread main")
        self.box["main"] = getcurrent()

        def child():
            request_id.set("thread child")
            getcurrent().parent.switch()

        g = greenlet.greenlet(child)
        g.switch()
        self.box["child"] = g
        self.ready.set()
        self.release.wait(10)
        # Finish the child here, in its own thread.
        self.box.pop("child").switch()
        self.box.clear()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(10)
        return self.box

    def __exit__(self, *args):
        self.release.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


def test_context_of_greenlet_running_in_another_thread():
    with ParkedThread() as box:
        other_main = box["main"]
        with pytest.raises(ValueError) as info:
            other_main.gr_context
        assert str(info.value) == OTHER_THREAD_GET
        with pytest.raises(ValueError) as info:
            other_main.gr_context = contextvars.Context()
        assert str(info.value) == OTHER_THREAD_SET
        with pytest.raises(ValueError) as info:
            other_main.gr_context = None
        assert str(info.value) == OTHER_THREAD_SET
        del other_main


def test_type_check_comes_before_thread_check():
    with ParkedThread() as box:
        with pytest.raises(TypeError) as info:
            box["main"].gr_context = "nope"
        assert str(info.value) == NOT_A_CONTEXT


def test_context_of_greenlet_suspended_in_another_thread_is_accessible():
    with ParkedThread() as box:
        child = box["child"]
        ctx = child.gr_context
        assert ctx[request_id] == "thread child"
        # Replace it with a copy carrying a different value; the thread will
        # resume the child with it.
        fresh = contextvars.Context()
        child.gr_context = fresh
        assert child.gr_context is fresh
        child.gr_context = ctx
        assert child.gr_context is ctx
        del child, ctx, fresh


def test_threads_start_with_empty_contexts_in_their_greenlets():
    token = request_id.set("main thread")
    out = {}

    def body():
        out["thread"] = request_id.get("empty")
        out["greenlet"] = greenlet.greenlet(
            lambda: request_id.get("empty")).switch()

    try:
        t = threading.Thread(target=body)
        t.start()
        t.join(10)
    finally:
        request_id.reset(token)
    assert out == {"thread": "empty", "greenlet": "empty"}


# ---------------------------------------------------------------------------
# Interaction with Context.run()
# ---------------------------------------------------------------------------

def test_running_greenlet_may_reassign_its_own_context():
    """For the running greenlet, main or not, the setter changes the live context."""
    # A child greenlet.
    def body():
        fresh = contextvars.Context()
        fresh.run(request_id.set, "swapped in")
        me = getcurrent()
        me.gr_context = fresh
        return (request_id.get(), me.gr_context is fresh)

    assert greenlet.greenlet(body).switch() == ("swapped in", True)

    # The main greenlet.
    main = getcurrent()
    original = main.gr_context
    replacement = contextvars.Context()
    replacement.run(request_id.set, "swapped")
    main.gr_context = replacement
    try:
        assert request_id.get() == "swapped"
        assert main.gr_context is replacement
    finally:
        main.gr_context = original
    assert request_id.get("default") == "default"


def test_context_entered_by_a_suspended_greenlet_cannot_be_entered_again():
    main = getcurrent()
    inner = contextvars.Context()

    def body():
        return inner.run(lambda: main.switch("inside inner.run"))

    g = greenlet.greenlet(body)
    assert g.switch() == "inside inner.run"
    with pytest.raises(RuntimeError) as info:
        inner.run(lambda: None)
    assert str(info.value) == "cannot enter context: %r is already entered" % (inner,)
    # A greenlet given the same context by assignment is not "entering" it.
    shared = greenlet.greenlet(lambda: request_id.get("none"))
    shared.gr_context = inner
    assert shared.switch() == "none"
    assert g.switch("finish") == "finish"
    assert g.dead


def test_swapping_context_under_an_active_context_run_breaks_its_exit():
    # The documented hazard: Context.run() notices on exit that the
    # current context is no longer the one it entered.
    main = getcurrent()
    inner = contextvars.Context()

    def body():
        inner.run(lambda: main.switch("inside"))

    g = greenlet.greenlet(body)
    assert g.switch() == "inside"
    g.gr_context = contextvars.Context()
    with pytest.raises(RuntimeError) as info:
        g.switch()
    assert str(info.value) == (
        "cannot exit context: thread state references a different context object")
    assert g.dead
