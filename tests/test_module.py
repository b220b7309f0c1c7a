"""The package surface that other libraries (gevent, eventlet, SQLAlchemy)
depend on, beyond the greenlet methods themselves."""
import gc
import importlib.metadata
import os
import platform
import re
import sys
import sysconfig
import weakref

import pytest

import greenlet
import greenlet._greenlet
from greenlet import GreenletExit, getcurrent

from _support import GREENLET_HOME


def _metadata_of_imported_greenlet():
    """The installed distribution metadata of the greenlet package this process imported.

    ``importlib.metadata.distribution("greenlet")`` reports the first greenlet
    distribution on sys.path, which need not be the imported package (another copy
    may be installed in the venv, say). Both ways of installing a build, into a venv
    and with ``pip install --target``, put the metadata beside the package folder,
    so that is where to look when the first one found is some other install.
    """
    init = os.path.realpath(greenlet.__file__)
    try:
        first = importlib.metadata.distribution("greenlet")
    except importlib.metadata.PackageNotFoundError:
        first = None
    if first is not None and os.path.realpath(first.locate_file("greenlet/__init__.py")) == init:
        return first
    beside = [d for d in importlib.metadata.distributions(path=[GREENLET_HOME])
              if (d.metadata["Name"] or "").lower() == "greenlet"]
    assert len(beside) == 1, (
        "expected the metadata of the imported greenlet (%s) beside it in %s, found %r"
        % (init, GREENLET_HOME, [d.metadata["Name"] for d in beside]))
    return beside[0]


def test_version_is_a_3x_string():
    """Dependents check the version to pick code paths."""
    assert isinstance(greenlet.__version__, str)
    assert re.match(r"^3\.\d+\.\d+", greenlet.__version__), greenlet.__version__
    # ... and it is the version the package was installed as.
    assert greenlet.__version__ == _metadata_of_imported_greenlet().version


def test_c_api_capsule():
    """gevent's C code imports greenlet's C API from this capsule."""
    capsule = greenlet._C_API
    assert type(capsule).__name__ == "PyCapsule"
    assert 'capsule object "greenlet._C_API"' in repr(capsule)


# What upstream's package re-exports from its extension module, with __all__ and
# without (the undocumented legacy flags and the provisional cleanup controls).
EXTENSION_NAMES_IN_ALL = {
    "_C_API", "GreenletExit", "error", "getcurrent", "greenlet", "gettrace", "settrace",
}
EXTENSION_NAMES_NOT_IN_ALL = {
    "GREENLET_USE_CONTEXT_VARS", "GREENLET_USE_GC", "GREENLET_USE_TRACING",
    "CLOCKS_PER_SEC", "enable_optional_cleanup", "get_clocks_used_doing_optional_cleanup",
}


def test_public_names():
    """The package exports exactly upstream's names, the very objects of the extension."""
    assert isinstance(greenlet.__all__, list)
    assert len(greenlet.__all__) == len(set(greenlet.__all__))
    assert set(greenlet.__all__) == {"__version__"} | EXTENSION_NAMES_IN_ALL
    for name in greenlet.__all__:
        assert hasattr(greenlet, name), name
    # __version__ is defined by the package itself; everything else is re-exported.
    for name in EXTENSION_NAMES_IN_ALL | EXTENSION_NAMES_NOT_IN_ALL:
        assert getattr(greenlet, name) is getattr(greenlet._greenlet, name), name


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

    def run(a, b):
        return type(getcurrent()), a + b

    g = Sub(run)
    assert type(g) is Sub
    assert g.switch(2, 3) == (Sub, 5)
    assert g.dead


@pytest.mark.skipif(
    platform.python_implementation() != "CPython"
    or sys.maxsize <= 2**32
    or bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    reason="the 40-byte layout is for 64-bit, GIL-enabled CPython",
)
def test_basicsize_matches_upstream_layout():
    """C extensions that subclass greenlet at the C level (gevent) bake
    in this struct size, so it must stay identical to upstream; so must the
    offsets of the weakref list and the instance dict inside it."""
    assert greenlet.greenlet.__basicsize__ == 40
    assert greenlet.greenlet.__weakrefoffset__ == 16  # tp_weaklistoffset
    assert greenlet.greenlet.__dictoffset__ == 24  # tp_dictoffset


def test_instances_support_weakrefs_and_dict():
    """Both slots are part of the layout (weakref list and instance dict)."""
    assert greenlet.greenlet.__weakrefoffset__ != 0
    assert greenlet.greenlet.__dictoffset__ != 0
    g = greenlet.greenlet(lambda: None)
    ref = weakref.ref(g)
    assert ref() is g
    assert g.__dict__ == {}
    g.x = 1
    assert g.__dict__ == {"x": 1}
    del g
    gc.collect()
    assert ref() is None


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
