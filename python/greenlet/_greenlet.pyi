# Type stubs for the extension module greenlet._greenlet (built from Swift).
from contextvars import Context
from types import FrameType, TracebackType
from typing import Any, Callable, ClassVar, Literal, Tuple, TypedDict, Union

_TraceEvent = Literal["switch", "throw"]
_TraceCallback = Callable[[_TraceEvent, Tuple["greenlet", "greenlet"]], object]

# The capsule "greenlet._C_API" read by PyGreenlet_Import() in greenlet.h.
_C_API: object
# Beyond upstream: the capsule "greenlet._C_API_EXT" (PyGreenlet_ImportExt(): switch hooks).
_C_API_EXT: object

GREENLET_USE_CONTEXT_VARS: int
GREENLET_USE_GC: int
GREENLET_USE_TRACING: int
CLOCKS_PER_SEC: int

class GreenletExit(BaseException):
    """Raised in a greenlet to kill it; not propagated to its parent."""

class error(Exception):
    """Raised for invalid switches (dead parent, foreign thread, cycles)."""

class greenlet:
    """A function with its own stack slice, run by switching into it."""

    # Module-level objects that are also reachable from the type.
    GreenletExit: ClassVar[type[GreenletExit]]
    error: ClassVar[type[error]]
    @staticmethod
    def getcurrent() -> greenlet: ...
    @staticmethod
    def settrace(callback: _TraceCallback | None, /) -> _TraceCallback | None: ...
    @staticmethod
    def gettrace() -> _TraceCallback | None: ...

    # The callable the greenlet executes; can be set only before it starts.
    run: Callable[..., Any]
    # Where control goes when this greenlet finishes; None only for main.
    parent: greenlet | None
    # contextvars context current while this greenlet runs.
    gr_context: Context | None

    def __init__(
        self, run: Callable[..., Any] | None = None, parent: greenlet | None = None
    ) -> None: ...
    def switch(self, *args: Any, **kwargs: Any) -> Any: ...
    def throw(
        self,
        typ: Union[type[BaseException], BaseException] = ...,
        val: object = ...,
        tb: TracebackType | None = ...,
        /,
    ) -> Any: ...
    @property
    def dead(self) -> bool: ...
    @property
    def gr_frame(self) -> FrameType | None: ...
    def __bool__(self) -> bool: ...

    # Beyond upstream: statistics, always counted (gr_run_ns only while accounting is on).
    @property
    def gr_switches(self) -> int: ...
    @property
    def gr_stack_saved_max(self) -> int: ...
    @property
    def gr_bytes_copied(self) -> int: ...
    @property
    def gr_run_ns(self) -> int: ...
    # Beyond upstream: the size of its dedicated stack, 0 on the thread's stack.
    @property
    def gr_stack_size(self) -> int: ...

def getcurrent() -> greenlet: ...
def settrace(callback: _TraceCallback | None, /) -> _TraceCallback | None: ...
def gettrace() -> _TraceCallback | None: ...
def enable_optional_cleanup(flag: bool, /) -> None: ...
def get_clocks_used_doing_optional_cleanup() -> int | None: ...

# Beyond upstream: seeing inside.
class _ThreadStats(TypedDict):
    switches: int
    bytes_copied: int
    stack_saved_max: int
    run_ns: int
    live: int
    created: int
    heap_bytes: int
    dedicated_stacks_refused: int
    dedicated_stacks_pooled: int

def enumerate(thread: int | Any | None = None) -> list[greenlet]: ...
def enumerate_all() -> dict[int, list[greenlet]]: ...
def stats() -> dict[int, _ThreadStats]: ...
def set_accounting(enabled: bool, /) -> None: ...
def set_context_inheritance(enabled: bool, /) -> None: ...
def settrace_all(callback: _TraceCallback | None, /) -> None: ...
def _running_greenlets() -> dict[int, greenlet]: ...
def set_stack_mode(mode: Literal["copying", "dedicated"], stack_size: int | None = None) -> None: ...
def get_stack_mode() -> Literal["copying", "dedicated"]: ...
