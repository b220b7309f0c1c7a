"""
Build script for greenlet with a Swift core.

The extension module greenlet._greenlet is not compiled by setuptools: it is
the dynamic library product `_greenlet` of the Swift package next to this
file (Package.swift). A placeholder Extension keeps setuptools producing a
platform wheel; the custom build_ext below runs `swift build` for the
interpreter that is running this script and copies the resulting library into
the build as greenlet/_greenlet<EXT_SUFFIX>. It sets GREENLET_BUILD_EXTENSION=1,
without which Package.swift declares only the Python-free engine. The `swift build` arguments
(include directories, version conditions, static Swift runtime) come from
tools/swift_flags.py, shared with the test command; the flags every target
always needs are in Package.swift. MANIFEST.in puts the Swift package into
source distributions.

Environment knobs:
  GREENLET_SWIFT         the swift executable to use (default: `swift` on PATH)
  GREENLET_SWIFT_CONFIG  `release` (default) or `debug`
  GREENLET_SWIFT_FLAGS   extra arguments appended to `swift build` (shell-split)
  GREENLET_SANITIZE      `address`: an AddressSanitizer build (Swift's -sanitize=address,
                         and the fiber annotations at each switch); see docs/memory-checks.md

A build with extra flags or a sanitizer gets a scratch folder of its own, so that it
never mixes objects with the plain build.
"""

import hashlib
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError, ExecError, OptionError, PlatformError

# Absolute, so it does not matter where pip (or anyone) runs us from.
ROOT = os.path.dirname(os.path.abspath(__file__))
PKG_DIR = os.path.join(ROOT, "python", "greenlet")
SWIFT_FLAGS_SCRIPT = os.path.join("tools", "swift_flags.py")

EXT_NAME = "greenlet._greenlet"
SWIFT_PRODUCT = "_greenlet"  # .library(name: "_greenlet", type: .dynamic, ...)
# Linux only: Package.swift links with GNU ld's --allow-shlib-undefined.
SWIFT_LIB_NAME = "lib_greenlet.so"


def read_version():
    path = os.path.join(PKG_DIR, "__init__.py")
    with open(path, encoding="utf-8") as f:
        match = re.search(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", f.read(), re.M)
    if not match:
        raise RuntimeError("no __version__ assignment found in " + path)
    return match.group(1)


def load_swift_flags():
    """tools/swift_flags.py, as a module: the one source of the build's arguments."""
    path = os.path.join(ROOT, SWIFT_FLAGS_SCRIPT)
    if not os.path.isfile(path):
        raise PlatformError(
            "cannot build greenlet._greenlet: %s is missing; it supplies the "
            "Python-specific `swift build` arguments." % path
        )
    spec = importlib.util.spec_from_file_location("_greenlet_swift_flags", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
        "source needs Swift 5.10 or newer: install it from "
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
        flags = load_swift_flags()
        tag = flags.version_tag()
        extra = shlex.split(os.environ.get("GREENLET_SWIFT_FLAGS", ""))
        sanitize = os.environ.get("GREENLET_SANITIZE", "")
        if sanitize not in ("", "address"):
            raise OptionError("GREENLET_SANITIZE must be 'address' or empty, not %r" % sanitize)
        if sanitize:
            # Swift and C targets alike; GREENLET_SANITIZE_ADDRESS turns on the fiber
            # annotations in CStackSwitch.
            extra = ["-Xswiftc", "-sanitize=address", "-Xcc", "-fsanitize=address",
                     "-Xcc", "-DGREENLET_SANITIZE_ADDRESS=1",
                     "-Xswiftc", "-DGREENLET_SANITIZE_ADDRESS"] + extra
        scratch = os.path.join(ROOT, ".build-py" + tag)
        if extra:
            scratch += "-" + hashlib.sha1(" ".join(extra).encode()).hexdigest()[:8]

        cmd = [
            swift, "build",
            "--package-path", ROOT,
            "-c", config,
            "--product", SWIFT_PRODUCT,
            "--scratch-path", scratch,
        ]
        cmd += flags.EXTENSION_FLAGS
        # -Xcc -I<include> [-Xcc -I<platinclude>] and -Xswiftc -DPY_GE_3_X.
        try:
            cmd += flags.python_flags()
        except SystemExit as e:  # its way of rejecting an unsupported Python
            raise PlatformError("cannot build greenlet._greenlet: %s" % (e.code,))
        cmd += extra

        print("running: " + " ".join(shlex.quote(c) for c in cmd), flush=True)
        sys.stderr.flush()
        try:
            # Output goes straight to our stdout/stderr, so it is visible live
            # (pip -v) and in pip's report when the build fails.
            # Package.swift declares the extension's targets only when asked to.
            env = dict(os.environ, GREENLET_BUILD_EXTENSION="1")
            rc = subprocess.call(cmd, cwd=ROOT, env=env)
        except OSError as e:
            raise ExecError("could not run %s: %s" % (swift, e))
        if rc != 0:
            raise CompileError(
                "`swift build` failed with exit status %d while building "
                "greenlet._greenlet for Python %s (its output is above)."
                % (rc, tag)
            )

        built = os.path.join(scratch, config, SWIFT_LIB_NAME)
        if not os.path.isfile(built):
            raise CompileError(
                "`swift build` succeeded but %s does not exist; the Swift package "
                "must declare a dynamic library product named %r."
                % (built, SWIFT_PRODUCT)
            )
        return built


setup(
    version=read_version(),
    package_dir={"": "python"},
    packages=["greenlet"],
    package_data={"greenlet": ["greenlet.h", "*.pyi", "py.typed"]},
    headers=["python/greenlet/greenlet.h"],
    ext_modules=[Extension(EXT_NAME, sources=[])],
    cmdclass={"build_ext": SwiftBuildExt},
    zip_safe=False,
)
