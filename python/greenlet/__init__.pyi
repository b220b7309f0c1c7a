# Type stubs for the greenlet package (re-exports of greenlet._greenlet).
from ._greenlet import (
    CLOCKS_PER_SEC as CLOCKS_PER_SEC,
    GREENLET_USE_CONTEXT_VARS as GREENLET_USE_CONTEXT_VARS,
    GREENLET_USE_GC as GREENLET_USE_GC,
    GREENLET_USE_TRACING as GREENLET_USE_TRACING,
    GreenletExit as GreenletExit,
    _C_API as _C_API,
    _C_API_EXT as _C_API_EXT,
    enable_optional_cleanup as enable_optional_cleanup,
    error as error,
    get_clocks_used_doing_optional_cleanup as get_clocks_used_doing_optional_cleanup,
    getcurrent as getcurrent,
    gettrace as gettrace,
    greenlet as greenlet,
    settrace as settrace,
    # Beyond upstream (not in __all__, which stays upstream's).
    enumerate as enumerate,
    enumerate_all as enumerate_all,
    set_accounting as set_accounting,
    set_context_inheritance as set_context_inheritance,
    settrace_all as settrace_all,
    stats as stats,
    set_stack_mode as set_stack_mode,
    get_stack_mode as get_stack_mode,
)
from ._stacks import dump_stacks as dump_stacks, format_stacks as format_stacks

__version__: str
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
