"""Print every greenlet of a running process, and the Python stack of each, from outside.

    python -m greenlet.dump PID

Like ``py-spy dump``, this attaches to nothing and stops nothing: it reads the target's
memory through ``/proc/PID/mem``. It finds the greenlet module's offsets table
(``greenlet_debug_offsets``, documented in ``greenlet.h``) and CPython's own
``_Py_DebugOffsets`` (CPython 3.13 and later publish it at the start of ``_PyRuntime``),
then walks each thread's registry of live greenlets. For each suspended greenlet it prints
its frames, innermost first; for each running one, its thread's current frames.

The target runs on while it is read, so a greenlet that switches meanwhile may show a stack
that is a moment old; every walk is bounded, and a torn read ends a stack early rather
than loop. Reading another process's memory needs the right to trace it (the same user, and
a ``kernel.yama.ptrace_scope`` that allows it, or root).
"""
import bisect
import os
import struct
import sys

__all__ = ["dump", "main", "UnsupportedTarget"]

# Bounds on every walk: the target's lists may change under the reader.
MAX_THREADS = 10_000
MAX_GREENLETS = 10_000_000
MAX_FRAMES = 10_000

# Frame owners at and above this value are the C stack's entry frames (3.13: CSTACK = 3;
# 3.14 and 3.15: INTERPRETER = 3, CSTACK = 4), which hold no Python code.
FIRST_NON_PYTHON_OWNER = 3


class UnsupportedTarget(Exception):
    """The target cannot be read: no greenlet module in it, or a CPython without debug offsets."""


# -- CPython's _Py_DebugOffsets --------------------------------------------------------
#
# The structure is a run of uint64 fields, grouped in sections, whose order is fixed for a
# minor version (it is the interface CPython offers to out-of-process tools). Its layout up to
# the sections this reader needs, from each version's header (3.13: pycore_runtime.h;
# 3.14, 3.15: pycore_debug_offsets.h).

# Sections that several versions share, then each version's whole list.
_HEADER = ("header", ["cookie", "version", "free_threaded"])
_RUNTIME_STATE = ("runtime_state", ["size", "finalizing", "interpreters_head"])
_INTERPRETER_STATE_313 = ["size", "id", "next", "threads_head", "gc", "imports_modules",
                          "sysdict", "builtins", "ceval_gil", "gil_runtime_state",
                          "gil_runtime_state_enabled", "gil_runtime_state_locked",
                          "gil_runtime_state_holder"]
# 3.14 added threads_main after threads_head, and two generation counters at the end.
_INTERPRETER_STATE_314 = (_INTERPRETER_STATE_313[:4] + ["threads_main"] + _INTERPRETER_STATE_313[4:]
                          + ["code_object_generation", "tlbc_generation"])
_THREAD_STATE_313 = ["size", "prev", "next", "interp", "current_frame", "thread_id",
                     "native_thread_id", "datastack_chunk", "status"]
_THREAD_STATE_315 = ["size", "prev", "next", "interp", "current_frame", "base_frame",
                     "last_profiled_frame", "last_profiled_frame_seq", "thread_id",
                     "native_thread_id", "datastack_chunk", "status", "holds_gil",
                     "gil_requested", "current_exception", "exc_state"]
_FRAME_313 = ["size", "previous", "executable", "instr_ptr", "localsplus", "owner"]
_CODE_313 = ["size", "filename", "name", "qualname", "linetable", "firstlineno", "argcount",
             "localsplusnames", "localspluskinds", "co_code_adaptive"]
_TYPE_313 = ["size", "tp_name", "tp_repr", "tp_flags"]
_SEQUENCES = [("tuple_object", ["size", "ob_item", "ob_size"]),
              ("list_object", ["size", "ob_item", "ob_size"])]
_SET = ("set_object", ["size", "used", "table", "mask"])
_SCALARS = [("dict_object", ["size", "ma_keys", "ma_values"]),
            ("float_object", ["size", "ob_fval"]),
            ("long_object", ["size", "lv_tag", "ob_digit"]),
            ("bytes_object", ["size", "ob_size", "ob_sval"])]
_UNICODE_313 = ["size", "state", "length", "asciiobject_size"]

_LAYOUTS = {
    (3, 13): [_HEADER, _RUNTIME_STATE,
              ("interpreter_state", _INTERPRETER_STATE_313),
              ("thread_state", _THREAD_STATE_313),
              ("interpreter_frame", _FRAME_313),
              ("code_object", _CODE_313),
              ("pyobject", ["size", "ob_type"]),
              ("type_object", _TYPE_313)]
             + _SEQUENCES + _SCALARS + [("unicode_object", _UNICODE_313)],
    (3, 14): [_HEADER, _RUNTIME_STATE,
              ("interpreter_state", _INTERPRETER_STATE_314),
              ("thread_state", _THREAD_STATE_313),
              ("interpreter_frame", _FRAME_313 + ["stackpointer", "tlbc_index"]),
              ("code_object", _CODE_313 + ["co_tlbc"]),
              ("pyobject", ["size", "ob_type"]),
              ("type_object", _TYPE_313)]
             + _SEQUENCES + [_SET] + _SCALARS + [("unicode_object", _UNICODE_313)],
    (3, 15): [_HEADER, _RUNTIME_STATE,
              ("interpreter_state", _INTERPRETER_STATE_314),
              ("thread_state", _THREAD_STATE_315),
              ("err_stackitem", ["exc_value"]),
              ("interpreter_frame", _FRAME_313 + ["stackpointer", "tlbc_index"]),
              ("code_object", _CODE_313 + ["co_tlbc"]),
              ("pyobject", ["size", "ob_type"]),
              ("type_object", _TYPE_313 + ["tp_basicsize", "tp_dictoffset"]),
              ("heap_type_object", ["size", "ht_cached_keys"])]
             + _SEQUENCES + [_SET] + _SCALARS
             + [("unicode_object", _UNICODE_313 + ["compactunicodeobject_size"])],
}


class PythonOffsets:
    """The fields of the target's _Py_DebugOffsets that this reader uses, by section."""

    def __init__(self, words, layout):
        index = 0
        for section, fields in layout:
            values = {}
            for field in fields:
                values[field] = words[index]
                index += 1
            setattr(self, section, values)

    @staticmethod
    def words_needed(layout):
        return sum(len(fields) for _, fields in layout)


# -- greenlet's GreenletDebugOffsets (greenlet.h) ----------------------------------------

_GREENLET_LAYOUT = [
    ("header", ["cookie", "version", "size", "python_version_hex", "free_threaded",
                "live_threads"]),
    ("thread_state", ["size", "thread_id", "next", "main", "current", "registry_first",
                      "registry_count"]),
    ("greenlet_state", ["size", "object", "registry_next", "parent", "stack_start",
                        "stack_stop", "saved_bytes", "is_main", "switches", "top_frame",
                        "frame_kind"]),
    ("greenlet_object", ["pimpl"]),
]


# -- ELF files and the target's memory ----------------------------------------------------

class ElfFile:
    """The symbols and loadable segments of a 64-bit little-endian ELF file on disk."""

    def __init__(self, path):
        with open(path, "rb") as f:
            data = f.read()
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise UnsupportedTarget("%s is not a 64-bit little-endian ELF file" % path)
        (phoff, shoff) = struct.unpack_from("<QQ", data, 0x20)
        (phentsize, phnum, shentsize, shnum) = struct.unpack_from("<HHHH", data, 0x36)
        self.load_vaddrs = []
        for i in range(phnum):
            p_type, _flags, _offset, vaddr = struct.unpack_from("<IIQQ", data, phoff + i * phentsize)
            if p_type == 1:  # PT_LOAD
                self.load_vaddrs.append(vaddr)
        sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
                    for i in range(shnum)]
        self._data = data
        self._sections = sections

    def symbol(self, name):
        """The value (virtual address) of the symbol `name`, from .dynsym or .symtab, or None."""
        wanted = b"\0" + name.encode() + b"\0"
        for sh_type in (11, 2):  # SHT_DYNSYM, then SHT_SYMTAB
            for section in self._sections:
                if section[1] != sh_type:
                    continue
                offset, size, link, entsize = section[4], section[5], section[6], section[9] or 24
                strtab = self._sections[link]
                strings = self._data[strtab[4]:strtab[4] + strtab[5]]
                # The name's index in the string table, then the entry that names it. (A
                # name can also end a longer one; every occurrence is tried.)
                at = strings.find(wanted)
                while at >= 0:
                    index = at + 1
                    table = memoryview(self._data)[offset:offset + size - size % entsize]
                    for st_name, _info, _other, _shndx, st_value, _size in struct.iter_unpack("<IBBHQQ", table):
                        if st_name == index and st_value:
                            return st_value
                    at = strings.find(wanted, at + 1)
        return None


class Target:
    """A process whose memory is read through /proc/PID/mem."""

    def __init__(self, pid):
        self.pid = pid
        try:
            self._mem = os.open("/proc/%d/mem" % pid, os.O_RDONLY)
        except OSError as e:
            raise UnsupportedTarget("cannot read the memory of process %d: %s" % (pid, e)) from e
        self._blocks = {}
        self.mappings = []
        with open("/proc/%d/maps" % pid) as maps:
            for line in maps:
                parts = line.split(None, 5)
                start, end = (int(x, 16) for x in parts[0].split("-"))
                path = parts[5].strip() if len(parts) > 5 else ""
                self.mappings.append((start, end, int(parts[2], 16), path))
        self._starts = [m[0] for m in self.mappings]

    def close(self):
        os.close(self._mem)

    # Reads go through a cache of aligned blocks: a system call per block rather than per
    # field. Greenlet states sit close together in the allocator's arenas, so a dump of
    # 10,000 greenlets reads a few thousand blocks, not a hundred thousand fields. The
    # cache lives for one dump: it is a snapshot, a little blurred in time.
    BLOCK = 1 << 14

    def read(self, address, size):
        block = self.BLOCK
        first = address & ~(block - 1)
        if address + size <= first + block:
            data = self._block(first)
            offset = address - first
            chunk = data[offset:offset + size]
        else:
            chunk = b"".join(self._block(b)[max(0, address - b):address + size - b]
                             for b in range(first, address + size, block))
        if len(chunk) != size:
            # Across the end of a mapping: read just the bytes asked for.
            try:
                chunk = os.pread(self._mem, size, address)
            except OSError:
                chunk = b""
            if len(chunk) != size:
                raise OSError("short read of %d bytes at 0x%x" % (size, address))
        return chunk

    def _block(self, start):
        data = self._blocks.get(start)
        if data is None:
            # Only what lies in one mapping can be read in one call: clamp to it.
            index = bisect.bisect_right(self._starts, start) - 1
            low, high = start, start + self.BLOCK
            if 0 <= index and start < self.mappings[index][1]:
                high = min(high, self.mappings[index][1])
            else:
                # The block begins before the mapping that holds the rest of it.
                index += 1
                if index < len(self.mappings):
                    low = max(low, self.mappings[index][0])
                    high = min(high, self.mappings[index][1])
            try:
                data = b"\0" * (low - start) + os.pread(self._mem, max(0, high - low), low) \
                    if high > low else b""
            except OSError:
                data = b""
            self._blocks[start] = data
        return data

    def u64(self, address):
        return struct.unpack("<Q", self.read(address, 8))[0]

    def words(self, address, count):
        return struct.unpack("<%dQ" % count, self.read(address, 8 * count))

    def find_symbol(self, name, path_filter):
        """The address of `name` in the first loaded file that `path_filter` accepts and
        that defines it, or None."""
        seen = set()
        for _start, _end, _offset, path in self.mappings:
            if not path.startswith("/") or path in seen or not path_filter(path):
                continue
            seen.add(path)
            try:
                elf = ElfFile(path)
            except (OSError, UnsupportedTarget):
                continue
            value = elf.symbol(name)
            if value is None:
                continue
            base = min(start for start, _e, offset, p in self.mappings if p == path and offset == 0)
            first_load = min(elf.load_vaddrs) & ~0xFFF if elf.load_vaddrs else 0
            return base - first_load + value
        return None


# -- Reading code objects and strings -----------------------------------------------------

class Reader:
    def __init__(self, target):
        self.target = target
        exe = os.path.realpath("/proc/%d/exe" % target.pid)
        runtime = target.find_symbol(
            "_PyRuntime", lambda p: os.path.realpath(p) == exe or "libpython" in os.path.basename(p))
        if runtime is None:
            raise UnsupportedTarget("no _PyRuntime found: is process %d a CPython?" % target.pid)
        self.runtime = runtime
        header = target.read(runtime, 16)
        if header[:8] != b"xdebugpy":
            raise UnsupportedTarget(
                "this CPython publishes no debug offsets (CPython 3.13 and later do); "
                "greenlet.dump supports CPython 3.13, 3.14 and 3.15")
        version = struct.unpack_from("<Q", header, 8)[0]
        major, minor = version >> 24, (version >> 16) & 0xFF
        layout = _LAYOUTS.get((major, minor))
        if layout is None:
            raise UnsupportedTarget("greenlet.dump knows the debug offsets of CPython 3.13 to "
                                    "3.15, not of %d.%d" % (major, minor))
        self.python_version = (major, minor)
        self.py = PythonOffsets(target.words(runtime, PythonOffsets.words_needed(layout)), layout)
        self.free_threaded = bool(self.py.header["free_threaded"])

        table = target.find_symbol("greenlet_debug_offsets",
                                   lambda p: os.path.basename(p).startswith("_greenlet"))
        if table is None:
            raise UnsupportedTarget("process %d has no greenlet module with an offsets table "
                                    "(this greenlet, imported)" % target.pid)
        if target.read(table, 8) != b"greenlet":
            raise UnsupportedTarget("the greenlet offsets table is not filled in yet")
        words = target.words(table, PythonOffsets.words_needed(_GREENLET_LAYOUT))
        self.gl = PythonOffsets(words, _GREENLET_LAYOUT)
        if self.gl.header["version"] < 1:
            raise UnsupportedTarget("unknown greenlet offsets table version")
        self._code_cache = {}
        self._string_cache = {}

    # Strings: compact ASCII and compact non-ASCII str objects (code names and filenames).
    def string(self, address):
        if address in self._string_cache:
            return self._string_cache[address]
        uni = self.py.unicode_object
        state = struct.unpack("<I", self.target.read(address + uni["state"], 4))[0]
        if self.free_threaded and self.python_version >= (3, 14):
            state >>= 8  # `interned` is a whole byte there
        else:
            state >>= 2
        kind, compact, ascii_ = state & 7, (state >> 3) & 1, (state >> 4) & 1
        length = self.target.u64(address + uni["length"])
        if not compact or length > 1 << 16:
            text = "?"
        elif ascii_:
            text = self.target.read(address + uni["asciiobject_size"], length).decode("ascii", "replace")
        else:
            data = uni.get("compactunicodeobject_size", uni["asciiobject_size"] + 16)
            raw = self.target.read(address + data, length * kind)
            text = raw.decode({1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}.get(kind, "latin-1"),
                              "replace")
        self._string_cache[address] = text
        return text

    def code(self, address):
        """(qualname, filename, firstlineno, line table bytes, first instruction address)."""
        info = self._code_cache.get(address)
        if info is None:
            co = self.py.code_object
            word = lambda field: self.target.u64(address + co[field])  # noqa: E731
            firstlineno = struct.unpack("<i", self.target.read(address + co["firstlineno"], 4))[0]
            linetable = word("linetable")
            size = self.target.u64(linetable + self.py.bytes_object["ob_size"])
            table = self.target.read(linetable + self.py.bytes_object["ob_sval"], min(size, 1 << 20))
            info = (self.string(word("qualname")), self.string(word("filename")), firstlineno,
                    table, address + co["co_code_adaptive"])
            self._code_cache[address] = info
        return info

    def is_code(self, address):
        if address in self._code_cache:
            return True
        try:
            ob_type = self.target.u64(address + self.py.pyobject["ob_type"])
            name = self.target.u64(ob_type + self.py.type_object["tp_name"])
            return self.target.read(name, 5) == b"code\0"
        except OSError:
            return False

    def frames(self, frame):
        """[(qualname, filename, line)] from the interpreter frame at `frame` outward."""
        out = []
        fr = self.py.interpreter_frame
        while frame and len(out) < MAX_FRAMES:
            try:
                owner = self.target.read(frame + fr["owner"], 1)[0]
                executable = self.target.u64(frame + fr["executable"]) & ~7  # a tagged reference
                if owner < FIRST_NON_PYTHON_OWNER and executable and self.is_code(executable):
                    qualname, filename, firstlineno, table, first = self.code(executable)
                    instr = self.target.u64(frame + fr["instr_ptr"])
                    out.append((qualname, filename, line_of(table, firstlineno, (instr - first) // 2)))
                frame = self.target.u64(frame + fr["previous"])
            except OSError:
                break
        return out


def line_of(table, firstlineno, index):
    """The line of code unit `index`, from a 3.11+ location table (co_linetable)."""
    line = firstlineno
    offset = 0
    at = 0
    result = None
    n = len(table)
    while at < n:
        first = table[at]
        at += 1
        code = (first >> 3) & 15
        length = (first & 7) + 1
        if code == 15:          # no location
            delta = None
        elif code == 14:        # long form: line delta, end line delta, column, end column
            delta, at = _svarint(table, at)
            for _ in range(3):
                _, at = _varint(table, at)
        elif code == 13:        # no column
            delta, at = _svarint(table, at)
        elif code >= 10:        # one line: delta in the code, then two column bytes
            delta = code - 10
            at += 2
        else:                   # short form: same line, one column byte
            delta = 0
            at += 1
        if delta is not None:
            line += delta
        if offset <= index < offset + length:
            result = line if delta is not None else None
            break
        offset += length
    return result


def _varint(table, at):
    value = shift = 0
    while at < len(table):
        byte = table[at]
        at += 1
        value |= (byte & 63) << shift
        shift += 6
        if not byte & 64:
            break
    return value, at


def _svarint(table, at):
    value, at = _varint(table, at)
    return (-(value >> 1) if value & 1 else value >> 1), at


# -- The dump -----------------------------------------------------------------------------

def _threads(reader):
    """{thread id: current interpreter frame}, from CPython's list of thread states."""
    py, target = reader.py, reader.target
    out = {}
    interp = target.u64(reader.runtime + py.runtime_state["interpreters_head"])
    seen = 0
    while interp and seen < 64:
        tstate = target.u64(interp + py.interpreter_state["threads_head"])
        count = 0
        while tstate and count < MAX_THREADS:
            out[target.u64(tstate + py.thread_state["thread_id"])] = target.u64(
                tstate + py.thread_state["current_frame"])
            tstate = target.u64(tstate + py.thread_state["next"])
            count += 1
        interp = target.u64(interp + py.interpreter_state["next"])
        seen += 1
    return out


def dump(pid, out=sys.stdout):
    """Writes every thread's greenlets, and their stacks, of process `pid` to `out`."""
    target = Target(pid)
    try:
        _dump(Reader(target), out)
    finally:
        target.close()


def _dump(reader, out):
    gl, target = reader.gl, reader.target
    ts, gs = gl.thread_state, gl.greenlet_state
    current_frames = _threads(reader)
    write = out.write
    write("Process %d: Python %d.%d%s, greenlet offsets table version %d\n" % (
        target.pid, reader.python_version[0], reader.python_version[1],
        "t" if reader.free_threaded else "", gl.header["version"]))
    thread = target.u64(gl.header["live_threads"])
    threads = 0
    while thread and threads < MAX_THREADS:
        threads += 1
        thread_id = target.u64(thread + ts["thread_id"])
        count = target.u64(thread + ts["registry_count"])
        current = target.u64(thread + ts["current"])
        write("\nThread %d: %d live greenlet%s\n" % (thread_id, count, "" if count == 1 else "s"))
        state = target.u64(thread + ts["registry_first"])
        listed = 0
        while state and listed < MAX_GREENLETS:
            listed += 1
            obj = target.u64(state + gs["object"])
            start = target.u64(state + gs["stack_start"])
            is_main = target.read(state + gs["is_main"], 1)[0]
            switches = target.u64(state + gs["switches"])
            saved = target.u64(state + gs["saved_bytes"])
            running = obj == current or start == 1
            what = "running" if running else "suspended, %d bytes saved" % saved
            write("  Greenlet 0x%x%s (%s, %d switches)\n" % (
                obj, " main" if is_main else "", what, switches))
            if running:
                frame = current_frames.get(thread_id, 0)
            elif gs["frame_kind"] == 1:
                frame = target.u64(state + gs["top_frame"])
            else:
                frame = 0
            for qualname, filename, line in reader.frames(frame):
                write("      %s (%s:%s)\n" % (qualname, filename, line if line is not None else "?"))
            state = target.u64(state + gs["registry_next"])
        thread = target.u64(thread + ts["next"])
    if threads == 0:
        write("\nNo thread has used greenlets yet.\n")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not argv[0].isdigit():
        sys.stderr.write("usage: python -m greenlet.dump PID\n")
        return 2
    try:
        dump(int(argv[0]))
    except UnsupportedTarget as e:
        sys.stderr.write("greenlet.dump: %s\n" % e)
        return 1
    except BrokenPipeError:
        # The reader of the output went away (`| head`): not an error of the dump.
        sys.stderr.close()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
