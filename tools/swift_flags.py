"""Print the `swift build` arguments that target the interpreter running this script.

The Swift sources read CPython's headers through the CPythonShim target and select
version-specific code with `#if PY_GE_3_X` conditions, and free-threaded code with
`#if PY_GIL_DISABLED`; all depend on the interpreter, so every build (setup.py, the test
command) asks this script instead of repeating the logic.
"""
import sys
import sysconfig

#: The oldest and newest CPython minor versions the sources know about.
SUPPORTED = (10, 15)


def python_flags():
    """Include directories and version conditions for this interpreter, as swift arguments."""
    major, minor = sys.version_info[:2]
    if major != 3 or not SUPPORTED[0] <= minor <= SUPPORTED[1]:
        raise SystemExit(
            "greenlet's Swift build supports CPython 3.%d to 3.%d, not %d.%d"
            % (SUPPORTED[0], SUPPORTED[1], major, minor))
    args = []
    paths = sysconfig.get_paths()
    includes = [paths["include"]]
    if paths.get("platinclude") and paths["platinclude"] not in includes:
        includes.append(paths["platinclude"])
    for include in includes:
        args += ["-Xcc", "-I" + include]
    for newer in range(SUPPORTED[0] + 1, minor + 1):
        args += ["-Xswiftc", "-DPY_GE_3_%d" % newer]
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        if minor < 13:
            raise SystemExit("free-threaded CPython before 3.13 does not exist")
        args += ["-Xswiftc", "-DPY_GIL_DISABLED"]
    return args


if __name__ == "__main__":
    import shlex
    print(shlex.join(python_flags()))
