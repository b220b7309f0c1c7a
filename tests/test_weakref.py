"""Greenlets cooperate with weak references: registries keep them, callbacks
fire, proxies forward."""
import weakref

import pytest

from greenlet import getcurrent, greenlet

from _support import find_main


def test_weakref_to_pending_greenlet():
    """Registries keep weak references to greenlets."""
    g = greenlet(lambda: None)
    ref = weakref.ref(g)
    assert ref() is g
    del g
    assert ref() is None


def test_weakref_callback_fires():
    """Callbacks let registries notice a greenlet going away."""
    fired = []
    g = greenlet(lambda: None)
    ref = weakref.ref(g, fired.append)
    del g
    assert fired == [ref]


def test_weakref_to_suspended_greenlet_dies_after_kill():
    """The weakref is cleared once the kill-and-free has happened."""
    main = getcurrent()
    g = greenlet(lambda: main.switch())
    g.switch()
    ref = weakref.ref(g)
    assert ref() is g
    del g
    assert ref() is None


def test_weakref_to_current_greenlet():
    """A greenlet can hand out a weak reference to itself."""
    def body():
        return weakref.ref(getcurrent())

    g = greenlet(body)
    ref = g.switch()
    assert ref() is g
    del g
    assert ref() is None


def test_weak_value_dictionary():
    """The common registry idiom built on weakrefs."""
    registry = weakref.WeakValueDictionary()
    g = greenlet(lambda: None)
    registry["job"] = g
    assert registry["job"] is g
    del g
    assert "job" not in registry


def test_weakref_to_main_greenlet():
    """Main greenlets are weakly referenceable too."""
    main = find_main()
    assert weakref.ref(main)() is main


def test_weakref_to_subclass_instance():
    """Subclasses inherit the weakref slot."""
    class Sub(greenlet):
        pass

    s = Sub()
    ref = weakref.ref(s)
    del s
    assert ref() is None


def test_weakref_proxy():
    """Proxies forward to the greenlet and fail once it is gone."""
    g = greenlet(lambda: "via proxy")
    proxy = weakref.proxy(g)
    assert proxy.switch() == "via proxy"
    assert proxy.dead
    del g
    with pytest.raises(ReferenceError, match=r"^weakly-referenced object no longer exists$"):
        proxy.dead
