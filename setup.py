"""
Build script for greenlet with a Swift core.

The extension module greenlet._greenlet is not compiled by setuptools: it is
the dynamic library product `_greenlet` of the Swift package next to this
file (Package.swift). A placeholder Extension keeps setuptools producing a
platform wheel; the custom build_ext below runs `swift build` for the
interpreter that is running this script and copies the resulting library into
the build as greenlet/_greenlet<EXT_SUFFIX>. The interpreter-specific
`swift build` arguments (include directories, version conditions) come from
tools/swift_flags.py, shared with the test command.

Environment knobs:
  GREENLET_SWIFT         the swift executable to use (default: `swift` on PATH)
  GREENLET_SWIFT_CONFIG  `release` (default) or `debug`
  GREENLET_SWIFT_FLAGS   extra arguments appended to `swift build` (shell-split)
"""

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist

try:
    from setuptools.errors import CompileError, ExecError, OptionError, PlatformError
except ImportError:  # setuptools older than 59
    from distutils.errors import (
        CompileError,
        DistutilsExecError as ExecError,
        DistutilsOptionError as OptionError,
        DistutilsPlatformError as PlatformError,
    )

# Absolute, so it does not matter where pip (or anyone) runs us from.
ROOT = os.path.dirname(os.path.abspath(__file__))
PKG_DIR = os.path.join(ROOT, "python", "greenlet")
SWIFT_FLAGS_SCRIPT = os.path.join("tools", "swift_flags.py")

EXT_NAME = "greenlet._greenlet"
SWIFT_PRODUCT = "_greenlet"  # .library(name: "_greenlet", type: .dynamic, ...)
SWIFT_LIB_NAMES = ("lib_greenlet.so", "lib_greenlet.dylib")


def read_version():
    path = os.path.join(PKG_DIR, "__init__.py")
    with open(path, encoding="utf-8") as f:
        match = re.search(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", f.read(), re.M)
    if not match:
        raise RuntimeError("no __version__ assignment found in " + path)
    return match.group(1)


def python_tag():
    """'3.11', or '3.13t' for a free-threaded build: names the scratch dir."""
    tag = "%d.%d" % sys.version_info[:2]
    if "t" in getattr(sys, "abiflags", ""):
        tag += "t"
    return tag


def python_swift_flags():
    """`swift build` arguments for this interpreter, from tools/swift_flags.py."""
    path = os.path.join(ROOT, SWIFT_FLAGS_SCRIPT)
    if not os.path.isfile(path):
        raise PlatformError(
            "cannot build greenlet._greenlet: %s is missing; it supplies the "
            "Python-specific `swift build` arguments." % path
        )
    spec = importlib.util.spec_from_file_location("_greenlet_swift_flags", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        return list(module.python_flags())
    except SystemExit as e:  # its way of rejecting an unsupported Python
        raise PlatformError("cannot build greenlet._greenlet: %s" % (e.code,))


def find_swift():
    override = os.environ.get("GREENLET_SWIFT")
    wanted = override or "swift"
    found = shutil.which(wanted)
    if found:
        return found
    if override:
        where = "GREENLET_SWIFT is set to %r, which is not an executable" % override
    else:
        where = "there is no `swift` executable on PATH"
    raise ExecError(
        "cannot build greenlet._greenlet: the Swift toolchain was not found "
        "(%s). This greenlet's core is written in Swift, so installing it from "
        "source needs Swift 5.9 or newer: install it from "
        "https://www.swift.org/install/ (on Linux, e.g. with swiftly or the "
        "release tarball), make sure `swift --version` works in the shell that "
        "runs pip, or set GREENLET_SWIFT to the full path of the swift "
        "executable." % where
    )


class SwiftBuildExt(build_ext):
    """Builds greenlet._greenlet with SwiftPM instead of a C compiler."""

    def build_extension(self, ext):
        if ext.name != EXT_NAME:
            return super().build_extension(ext)
        dest = self.get_ext_fullpath(ext.name)
        if self.dry_run:
            return
        built = self._swift_build()
        os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
        # Copy under a temporary name and rename: never rewrite in place a
        # library that some running interpreter may have mapped.
        tmp = dest + ".tmp"
        shutil.copyfile(built, tmp)
        os.chmod(tmp, 0o755)
        os.replace(tmp, dest)
        print("copied %s -> %s" % (built, dest), flush=True)

    def _swift_build(self):
        config = os.environ.get("GREENLET_SWIFT_CONFIG", "release") or "release"
        if config not in ("release", "debug"):
            raise OptionError(
                "GREENLET_SWIFT_CONFIG must be 'release' or 'debug', not %r" % config
            )
        swift = find_swift()
        scratch = os.path.join(ROOT, ".build-py" + python_tag())

        cmd = [
            swift, "build",
            "--package-path", ROOT,
            "-c", config,
            "--product", SWIFT_PRODUCT,
            "--scratch-path", scratch,
            "-Xswiftc", "-static-stdlib",
            "-Xswiftc", "-enforce-exclusivity=unchecked",
        ]
        # -Xcc -I<include> [-Xcc -I<platinclude>] and -Xswiftc -DPY_GE_3_X.
        cmd += python_swift_flags()
        cmd += shlex.split(os.environ.get("GREENLET_SWIFT_FLAGS", ""))

        print("running: " + " ".join(shlex.quote(c) for c in cmd), flush=True)
        sys.stderr.flush()
        try:
            # Output goes straight to our stdout/stderr, so it is visible live
            # (pip -v) and in pip's report when the build fails.
            rc = subprocess.call(cmd, cwd=ROOT)
        except OSError as e:
            raise ExecError("could not run %s: %s" % (swift, e))
        if rc != 0:
            raise CompileError(
                "`swift build` failed with exit status %d while building "
                "greenlet._greenlet for Python %s (its output is above)."
                % (rc, python_tag())
            )

        bin_dir = os.path.join(scratch, config)
        for name in SWIFT_LIB_NAMES:
            candidate = os.path.join(bin_dir, name)
            if os.path.isfile(candidate):
                return candidate
        raise CompileError(
            "`swift build` succeeded but %s does not exist; the Swift package "
            "must declare a dynamic library product named %r."
            % (os.path.join(bin_dir, SWIFT_LIB_NAMES[0]), SWIFT_PRODUCT)
        )


class SwiftSdist(sdist):
    """Puts the Swift package into source distributions as well."""

    def make_distribution(self):
        # setuptools collects the file list in egg_info (our add_defaults
        # would not be consulted), so extend the final list here instead.
        for name in ("Package.swift", "Package.resolved", SWIFT_FLAGS_SCRIPT):
            if os.path.isfile(os.path.join(ROOT, name)):
                self.filelist.append(name.replace(os.sep, "/"))
        for top in ("Sources", "Tests"):
            for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                rel = os.path.relpath(dirpath, ROOT)
                for fn in sorted(filenames):
                    self.filelist.append(os.path.join(rel, fn).replace(os.sep, "/"))
        self.filelist.sort()
        self.filelist.remove_duplicates()
        super().make_distribution()


setup(
    version=read_version(),
    package_dir={"": "python"},
    packages=["greenlet"],
    package_data={"greenlet": ["greenlet.h", "*.pyi", "py.typed"]},
    headers=["python/greenlet/greenlet.h"],
    ext_modules=[Extension(EXT_NAME, sources=[])],
    cmdclass={"build_ext": SwiftBuildExt, "sdist": SwiftSdist},
    zip_safe=False,
)
