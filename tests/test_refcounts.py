"""Reference counts stay balanced across switches, finishes and errors.

A leaked reference on a parent or on a switch argument shows up nowhere but in
sys.getrefcount, so these tests look there directly.
"""
import sys

import pytest

import greenlet

pytestmark = pytest.mark.skipif(
    not hasattr(sys, "getrefcount"), reason="needs sys.getrefcount")


class Marker:
    """A fresh object whose reference count nobody else touches."""


def _drive(body, rounds=50):
    for _ in range(rounds):
        body()


def test_finishing_greenlets_do_not_leak_their_parent():
    parent = greenlet.getcurrent()
    before = sys.getrefcount(parent)

    def finish_with_value():
        greenlet.greenlet(lambda: 42).switch()

    def finish_with_error():
        with pytest.raises(KeyError, match=r"^'missing'$"):
            greenlet.greenlet(lambda: {}["missing"]).switch()

    _drive(finish_with_value)
    _drive(finish_with_error)
    assert sys.getrefcount(parent) == before


def test_an_explicit_parent_is_released_when_the_child_dies():
    host = greenlet.greenlet(lambda: greenlet.getcurrent().parent.switch())
    host.switch()
    before = sys.getrefcount(host)
    for _ in range(20):
        child = greenlet.greenlet(lambda: None, parent=host)
        child.parent = greenlet.getcurrent()
        del child
    assert sys.getrefcount(host) == before
    host.switch()
    assert host.dead


@pytest.mark.parametrize("how", ["single", "tuple", "kwargs", "both"])
def test_values_passed_by_switch_are_released(how):
    value = Marker()
    before = sys.getrefcount(value)

    def echo():
        main = greenlet.getcurrent().parent
        received = main.switch()
        while True:
            received = main.switch(received)

    g = greenlet.greenlet(echo)
    g.switch()
    for _ in range(30):
        if how == "single":
            got = g.switch(value)
            assert got is value
        elif how == "tuple":
            got = g.switch(value, value)
            assert got == (value, value)
        elif how == "kwargs":
            got = g.switch(v=value)
            assert got == {"v": value}
        else:
            got = g.switch(value, v=value)
            assert got == ((value,), {"v": value})
        del got
    g.throw()  # kill it
    assert g.dead
    del g
    assert sys.getrefcount(value) == before


def test_thrown_exceptions_are_released():
    error = ValueError("boom")
    before = sys.getrefcount(error)

    def catcher():
        main = greenlet.getcurrent().parent
        while True:
            try:
                main.switch()
            except ValueError:
                pass

    g = greenlet.greenlet(catcher)
    g.switch()
    for _ in range(30):
        g.throw(error)
    g.throw()
    del g
    assert sys.getrefcount(error) == before


def test_run_callable_is_released_once_started():
    callable_ = Marker()
    before = sys.getrefcount(callable_)
    g = greenlet.greenlet(callable_)
    assert sys.getrefcount(callable_) == before + 1
    with pytest.raises(TypeError, match=r"^'Marker' object is not callable$"):
        g.switch()  # Marker instances are not callable: the greenlet dies at once
    assert g.dead
    assert sys.getrefcount(callable_) == before
