#!/usr/bin/env bash
# Run every test: the Python test suite (tests/) under each requested CPython,
# then the Swift engine tests (a bare `swift build` and `swift test`, which need no Python).
#
# usage: tools/run_tests.sh [PYTEST_ARGS...]
#
# For each Python version X.Y it creates (or reuses) the virtualenv .venv-X.Y
# in the repository, installs this project into it (a real, non-editable
# install built by `swift build`, redone on every run), installs pytest and
# runs `python -m pytest tests [PYTEST_ARGS...]`. Versions that are not
# installed are reported as SKIPPED; a version that is present and fails
# fails the run.
#
# Environment:
#   GREENLET_TEST_PYTHONS  versions to test, e.g. "3.11 3.13t" (default: every
#                          version `tools/swift_flags.py --versions` lists; a "t"
#                          names the free-threaded build)
#   GREENLET_TEST_SWIFT    set to 0 to leave out `swift test`
#   GREENLET_TEST_INTEGRATION  set to 0 to skip installing the frameworks of
#                          tests/integration/requirements.txt (their tests then skip)
#   GREENLET_SWIFT         swift executable (default: swift on PATH); also
#                          used by setup.py
#   GREENLET_INSTALL_PYTHONS  set to 0 to never install a missing interpreter.
#                          Otherwise, when ../shared/pythons sits beside the
#                          clone, a missing one is installed once into pyenv's
#                          versions folder: 3.14 and 3.15 with debian-python.sh
#                          (Debian's build, about 25 s each), 3.13t with
#                          build-cpython.sh (built from source, about 6 min).
# Exit status: 0 only if every component that ran passed.
set -uo pipefail

# What every test virtualenv gets besides the project itself.
VENV_TOOLS="pip setuptools>=77 wheel pytest"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
GREENLET_ROOT="$ROOT"
# supported_pythons, find_python, install_python: the same discovery as .ci/run.
# shellcheck source=tools/pythons.sh
source "$ROOT/tools/pythons.sh"

# Every version the project supports (tools/swift_flags.py); the default of
# GREENLET_TEST_PYTHONS.
SUPPORTED_PYTHONS="$(supported_pythons)" || exit 2

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore
SWIFT="${GREENLET_SWIFT:-swift}"
PYTHONS="${GREENLET_TEST_PYTHONS:-$SUPPORTED_PYTHONS}"

SUMMARY=()   # one line per component
FAILED=0
TESTED=0

say() { printf '\n=== %s\n' "$*"; }
note() { SUMMARY+=("$(printf '%-14s %s' "$1" "$2")"); }

# Create .venv-X.Y[t] (or reuse it if its interpreter still runs and is X.Y[t])
# and make sure VENV_TOOLS are installed in it.
prepare_venv() {
    local ver="$1" base="$2" venv="$ROOT/.venv-$1" vpy have
    vpy="$venv/bin/python"
    have="$("$vpy" -c 'import sys, sysconfig; print("%d.%d%s" % (sys.version_info[:2] + ("t" if sysconfig.get_config_var("Py_GIL_DISABLED") else "",)))' 2>/dev/null || true)"
    if [[ "$have" != "$ver" ]]; then
        [[ -e "$venv" ]] && { echo "recreating $venv (it does not run Python $ver)"; rm -rf "$venv"; }
        echo "creating $venv with $base"
        if ! "$base" -m venv "$venv"; then
            # Some distributions ship python without ensurepip; fall back to
            # virtualenv, fetched from PyPI into a private directory.
            echo "python -m venv failed; trying virtualenv"
            rm -rf "$venv"
            local vedir="$ROOT/.venv-tools-$ver"
            "$base" -m pip install -q --target "$vedir" virtualenv \
                && PYTHONPATH="$vedir" "$base" -m virtualenv -q "$venv" \
                || return 1
        fi
    fi
    # Install/upgrade the tools only when the wanted list changed.
    if [[ "$(cat "$venv/.tools" 2>/dev/null)" != "$VENV_TOOLS" ]]; then
        # shellcheck disable=SC2086
        "$vpy" -m pip install -q --upgrade $VENV_TOOLS || return 1
        echo "$VENV_TOOLS" > "$venv/.tools"
    fi
}

# The checksum of the installed greenlet extension module.
extension_checksum() {
    "$1" -c 'import hashlib, greenlet._greenlet as m; print(hashlib.sha256(open(m.__file__, "rb").read()).hexdigest())' 2>/dev/null
}

# The integration test frameworks to install for version X.Y[t]: all of
# tests/integration/requirements.txt, less the lines marked "no free-threaded"
# on a free-threaded build (gevent ships no wheels for one).
integration_requirements() {
    if [[ "$1" == *t ]]; then
        grep -v "no free-threaded" "$ROOT/tests/integration/requirements.txt"
    else
        cat "$ROOT/tests/integration/requirements.txt"
    fi
}

test_python() {
    local ver="$1" base vpy rc
    shift   # the rest are pytest arguments
    say "Python $ver"
    if ! base="$(find_python "$ver")" && install_python "$ver"; then
        base="$(find_python "$ver")" || true
    fi
    if [[ -z "$base" ]]; then
        echo "SKIPPED: Python $ver is not installed (no \$(pyenv root)/versions/$ver.*/bin/python$ver, no python$ver on PATH)"
        note "python$ver" "SKIPPED (not installed)"
        return 0
    fi
    echo "interpreter: $base"
    TESTED=$((TESTED + 1))
    if ! prepare_venv "$ver" "$base"; then
        note "python$ver" "FAILED (could not set up .venv-$ver)"
        return 1
    fi
    vpy="$ROOT/.venv-$ver/bin/python"

    # setuptools' build/ dir can hold files deleted from the sources since
    # the last run; start it clean so the install matches the tree exactly.
    # (swift build is incremental via .build-pyX.Y, so this costs little.)
    rm -rf "$ROOT/build"
    echo "installing the project (swift build for $ver) ..."
    if ! "$vpy" -m pip install -q --no-build-isolation --no-deps --force-reinstall "$ROOT"; then
        note "python$ver" "FAILED (install/build)"
        return 1
    fi

    # The frameworks the integration tests drive (gevent, eventlet, SQLAlchemy). They
    # depend on greenlet>=3.2.2, which the greenlet just installed satisfies, so pip keeps
    # it; the checksum below proves that.
    local requirements="$ROOT/tests/integration/requirements.txt" before after
    if [[ -f "$requirements" && "${GREENLET_TEST_INTEGRATION:-1}" != 0 ]]; then
        before="$(extension_checksum "$vpy")"
        echo "installing the integration test frameworks ..."
        if ! "$vpy" -m pip install -q -r <(integration_requirements "$ver"); then
            note "python$ver" "FAILED (could not install tests/integration/requirements.txt)"
            return 1
        fi
        after="$(extension_checksum "$vpy")"
        if [[ -z "$before" || "$before" != "$after" ]]; then
            echo "error: installing the frameworks replaced this project's greenlet"
            note "python$ver" "FAILED (greenlet was replaced by a framework install)"
            return 1
        fi
    fi

    echo "running: python -m pytest tests $*"
    GREENLET_TEST_EXPECT=this-project "$vpy" -m pytest tests "$@"
    rc=$?
    case "$rc" in
        0) note "python$ver" "PASSED" ;;
        5) note "python$ver" "FAILED (pytest collected no tests)"; return 1 ;;
        *) note "python$ver" "FAILED (pytest exit status $rc)"; return 1 ;;
    esac
}

test_swift() {
    local args
    say "Swift engine tests"
    if [[ "${GREENLET_TEST_SWIFT:-1}" == 0 ]]; then
        echo "SKIPPED: GREENLET_TEST_SWIFT=0"
        note "swift test" "SKIPPED (GREENLET_TEST_SWIFT=0)"
        return 0
    fi
    if ! command -v "$SWIFT" >/dev/null 2>&1; then
        echo "swift not found ('$SWIFT'); install Swift from https://www.swift.org/install/"
        note "swift test" "FAILED (swift not found)"
        return 1
    fi
    # Bare, as a Swift developer on a fresh clone runs it: with GREENLET_BUILD_EXTENSION
    # unset, Package.swift declares only the engine, which needs no Python headers.
    args=(--package-path "$ROOT" --scratch-path "$ROOT/.build-test")
    echo "running: $SWIFT build ${args[*]} && $SWIFT test ${args[*]}"
    if env -u GREENLET_BUILD_EXTENSION "$SWIFT" build "${args[@]}" </dev/null \
            && env -u GREENLET_BUILD_EXTENSION "$SWIFT" test "${args[@]}" </dev/null; then
        note "swift test" "PASSED"
    else
        note "swift test" "FAILED"
        return 1
    fi
}

for ver in $PYTHONS; do
    ver="${ver#python}"
    if [[ ! "$ver" =~ ^3\.[0-9]+t?$ ]]; then
        echo "error: '$ver' in GREENLET_TEST_PYTHONS is not a version like 3.11 or 3.13t" >&2
        note "python$ver" "FAILED (bad version)"
        FAILED=1
        continue
    fi
    test_python "$ver" "$@" </dev/null || FAILED=1
done
if [[ "$TESTED" -eq 0 ]]; then
    echo "error: none of the requested Python versions ($PYTHONS) is installed" >&2
    FAILED=1
fi

test_swift || FAILED=1

say "Summary"
printf '%s\n' "${SUMMARY[@]}"
if [[ "$FAILED" -ne 0 ]]; then
    echo "RESULT: FAILED"
    exit 1
fi
echo "RESULT: PASSED"
