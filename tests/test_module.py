"""The package surface that other libraries (gevent, eventlet, SQLAlchemy)
depend on, beyond the greenlet methods themselves."""
import platform
import re
import sys
import sysconfig

import pytest

import greenlet
from greenlet import GreenletExit, getcurrent


def test_version_is_a_3x_string():
    """Dependents check the version to pick code paths."""
    assert isinstance(greenlet.__version__, str)
    assert re.match(r"^3\.\d+\.\d+", greenlet.__version__), greenlet.__version__


def test_c_api_capsule():
    """gevent's C code imports greenlet's C API from this capsule."""
    capsule = greenlet._C_API
    assert type(capsule).__name__ == "PyCapsule"
    assert 'capsule object "greenlet._C_API"' in repr(capsule)


def test_public_names():
    """Everything upstream exports from the package must be present."""
    for name in (
        "__version__", "_C_API", "GreenletExit", "error",
        "getcurrent", "greenlet", "gettrace", "settrace",
    ):
        assert hasattr(greenlet, name), name


def test_greenlet_type_identity():
    """The type is a real class named greenlet.greenlet."""
    assert isinstance(greenlet.greenlet, type)
    assert greenlet.greenlet.__module__ == "greenlet"
    assert greenlet.greenlet.__name__ == "greenlet"
    assert isinstance(getcurrent(), greenlet.greenlet)


def test_getcurrent_is_a_type_attribute():
    """eventlet looks up greenlet.greenlet.getcurrent."""
    assert greenlet.greenlet.getcurrent is greenlet.getcurrent
    assert greenlet.greenlet.getcurrent() is getcurrent()


def test_greenlet_exit_is_a_type_attribute():
    """eventlet reaches the exception through the type."""
    assert greenlet.greenlet.GreenletExit is GreenletExit


def test_type_is_subclassable():
    """gevent and eventlet subclass it."""
    class Sub(greenlet.greenlet):
        pass

    assert issubclass(Sub, greenlet.greenlet)


@pytest.mark.skipif(
    platform.python_implementation() != "CPython"
    or sys.maxsize <= 2**32
    or bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    reason="the 40-byte layout is for 64-bit, GIL-enabled CPython",
)
def test_basicsize_matches_upstream_layout():
    """C extensions that subclass greenlet at the C level (gevent) bake
    in this struct size, so it must stay identical to upstream."""
    assert greenlet.greenlet.__basicsize__ == 40


def test_instances_support_weakrefs_and_dict():
    """Both slots are part of the layout (weakref list and instance dict)."""
    assert greenlet.greenlet.__weakrefoffset__ != 0
    assert greenlet.greenlet.__dictoffset__ != 0
