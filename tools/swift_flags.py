"""The supported CPython versions, and the `swift build` arguments for the one running this.

This file is the one place that knows both:

* ``SUPPORTED_VERSIONS`` is the list the test command (tools/run_tests.sh), CI (.ci/run)
  and the build read; ``python3 tools/swift_flags.py --versions`` prints it.
* ``python_flags()`` gives the interpreter-specific arguments.  The Swift sources read
  CPython's headers through the CPythonShim target and select version-specific code with
  ``#if PY_GE_3_X`` and free-threaded code with ``#if PY_GIL_DISABLED``; all of that
  depends on the interpreter, so every build asks here instead of repeating the logic.
* ``EXTENSION_FLAGS`` are the flags of the extension build that are not per interpreter.

Flags that hold for every build of every target (``-enforce-exclusivity=unchecked``) live
in Package.swift instead, where they cannot be forgotten.
"""
import sys
import sysconfig

#: Every CPython the sources support, as the tools name them: "3.Y", and "3.Yt" for a
#: free-threaded build.  3.14t and 3.15t are written for but not yet tested: the tools
#: report them as not installed until an interpreter appears.
SUPPORTED_VERSIONS = (
    "3.10", "3.11", "3.12", "3.13", "3.14", "3.15",
    "3.13t", "3.14t", "3.15t",
)

#: The oldest and newest minor versions, derived from the list above.
SUPPORTED = (
    min(int(v.rstrip("t").split(".")[1]) for v in SUPPORTED_VERSIONS),
    max(int(v.rstrip("t").split(".")[1]) for v in SUPPORTED_VERSIONS),
)

#: Added to `swift build` for the extension module.  `-static-stdlib` links Swift's
#: runtime into the module, so the installed package needs no Swift beside it.
# DWARF 4 debug information: valgrind 3.19 (Debian bookworm's, which perf_cg and memcheck
# use) cannot read the DWARF 5 that Swift 6 writes by default, and gives up on the library.
EXTENSION_FLAGS = ("-Xswiftc", "-static-stdlib",
                   "-Xswiftc", "-dwarf-version=4", "-Xcc", "-gdwarf-4")


def version_tag():
    """'3.11', or '3.13t' for a free-threaded build: this interpreter's name in the list."""
    tag = "%d.%d" % sys.version_info[:2]
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        tag += "t"
    return tag


def python_flags():
    """Include directories and version conditions for this interpreter, as swift arguments."""
    tag = version_tag()
    if tag not in SUPPORTED_VERSIONS:
        raise SystemExit(
            "greenlet's Swift build supports CPython %s, not %s"
            % (", ".join(SUPPORTED_VERSIONS), tag))
    minor = sys.version_info[1]
    args = []
    paths = sysconfig.get_paths()
    includes = [paths["include"]]
    if paths.get("platinclude") and paths["platinclude"] not in includes:
        includes.append(paths["platinclude"])
    for include in includes:
        args += ["-Xcc", "-I" + include]
    for newer in range(SUPPORTED[0] + 1, minor + 1):
        args += ["-Xswiftc", "-DPY_GE_3_%d" % newer]
    if tag.endswith("t"):
        args += ["-Xswiftc", "-DPY_GIL_DISABLED"]
    return args


if __name__ == "__main__":
    import shlex
    if sys.argv[1:] == ["--versions"]:
        print(" ".join(SUPPORTED_VERSIONS))
    elif sys.argv[1:]:
        raise SystemExit("usage: swift_flags.py [--versions]")
    else:
        print(shlex.join(python_flags()))
