"""
greenlet: lightweight in-process concurrent programming.

A greenlet is a function running on its own slice of the C stack; control
moves between greenlets only by explicit ``switch()`` and ``throw()`` calls.
This package is a drop-in replacement for upstream greenlet 3.x whose core
(stack slicing, switching, the ``greenlet`` type and the C API capsule) is
written in Swift and lives in the extension module ``greenlet._greenlet``.
"""

__version__ = "3.5.6"

__all__ = [
    "__version__",
    "_C_API",
    "GreenletExit",
    "error",
    "getcurrent",
    "greenlet",
    "gettrace",
    "settrace",
]

# The core names: a failure here is a real ImportError and must propagate.
# ``_C_API`` is the capsule that C extensions fetch through PyGreenlet_Import()
# (it is looked up as ``greenlet._C_API``, so it has to be re-exported here).
from ._greenlet import _C_API  # noqa: F401
from ._greenlet import GreenletExit, error
from ._greenlet import getcurrent, greenlet
from ._greenlet import gettrace, settrace

# Undocumented extras that upstream also exposes at package level without
# listing them in __all__: legacy feature flags and the provisional
# "optional cleanup" controls. The extension always defines every one of
# them, so they are imported unconditionally, as upstream imports them; a
# missing name is an ImportError, like a missing core name above.
from ._greenlet import GREENLET_USE_CONTEXT_VARS  # noqa: F401
from ._greenlet import GREENLET_USE_GC  # noqa: F401
from ._greenlet import GREENLET_USE_TRACING  # noqa: F401
from ._greenlet import CLOCKS_PER_SEC  # noqa: F401
from ._greenlet import enable_optional_cleanup  # noqa: F401
from ._greenlet import get_clocks_used_doing_optional_cleanup  # noqa: F401

# Beyond upstream: seeing inside (not in __all__, which stays upstream's, so that
# `from greenlet import *` binds the same names with either). `enumerate` shadows the
# builtin only as an attribute of this package.
from ._greenlet import enumerate, enumerate_all  # noqa: F401,A001
from ._greenlet import stats, set_accounting  # noqa: F401
from ._greenlet import set_context_inheritance, settrace_all  # noqa: F401
from ._greenlet import set_stack_mode, get_stack_mode  # noqa: F401
from ._stacks import format_stacks, dump_stacks  # noqa: F401
# The capsule of the C API beyond upstream's (greenlet.h: PyGreenlet_ImportExt).
from ._greenlet import _C_API_EXT  # noqa: F401
