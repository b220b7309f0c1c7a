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


def _program_headers(path):
    """(p_type, p_flags) of each ELF program header of the file at ``path``."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"\x7fELF"
    is64 = data[4] == 2
    order = "<" if data[5] == 1 else ">"
    if is64:
        phoff, = struct.unpack_from(order + "Q", data, 0x20)
        phentsize, phnum = struct.unpack_from(order + "HH", data, 0x36)
    else:
        phoff, = struct.unpack_from(order + "I", data, 0x1C)
        phentsize, phnum = struct.unpack_from(order + "HH", data, 0x2A)
    headers = []
    for index in range(phnum):
        base = phoff + index * phentsize
        p_type, = struct.unpack_from(order + "I", data, base)
        p_flags, = struct.unpack_from(order + "I", data, base + (4 if is64 else 24))
        headers.append((p_type, p_flags))
    return headers


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF")
def test_extension_asks_for_no_executable_stack():
    """glibc 2.41 and later refuse to load a library that asks for an executable stack
    (Debian's CPython 3.14 and 3.15 come with such a glibc). Every object linked into the
    extension, even an empty one, must say that it needs none."""
    PT_GNU_STACK, PF_X = 0x6474E551, 0x1
    stacks = [flags for kind, flags in _program_headers(greenlet._greenlet.__file__)
              if kind == PT_GNU_STACK]
    assert stacks, "no PT_GNU_STACK header: the loader assumes an executable stack"
    assert not stacks[0] & PF_X
