#!/usr/bin/env bash
# Runs the project's tests against an AddressSanitizer build of the extension
# (GREENLET_SANITIZE=address: Swift's -sanitize=address, clang's for the C shim, and the
# fiber annotations at each switch). Not part of CI. docs/memory-checks.md says what it
# checks and how to read a report.
#
# usage: tools/asan.sh [VERSION...]        (default: 3.11 3.13)
#
# CPython is not instrumented, but with PYTHONMALLOC=malloc every allocation goes through
# the ASan runtime (preloaded, as the interpreter was not linked with it), so a read or
# write past any object, or into freed memory, from the extension or from CPython, stops
# the process with a report. Child interpreters started by the tests inherit all of it.
# Reports go to .asan/X.Y/; none there and the tests passing means clean.
#
# Environment:
#   GREENLET_ASAN_PYTEST   pytest arguments (default: the whole suite less integration tests)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
GREENLET_ROOT="$ROOT"
# shellcheck source=tools/pythons.sh
source "$ROOT/tools/pythons.sh"

VERSIONS=("$@")
[[ ${#VERSIONS[@]} -gt 0 ]] || VERSIONS=(3.11 3.13)
PYTEST_ARGS="${GREENLET_ASAN_PYTEST:--q -p no:cacheprovider -m 'not integration' tests}"
SWIFT="${GREENLET_SWIFT:-swift}"

# The ASan runtime of the Swift toolchain's clang, the one the extension is built with.
resource_dir="$(dirname "$(command -v "$SWIFT")")/../lib/swift/clang"
RUNTIME="$(ls "$resource_dir"/lib/linux/libclang_rt.asan-x86_64.so 2>/dev/null | head -1)"
[[ -n "$RUNTIME" ]] || { echo "asan: no libclang_rt.asan-x86_64.so under $resource_dir"; exit 2; }

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore

status=0
for ver in "${VERSIONS[@]}"; do
    out="$ROOT/.asan/$ver"
    rm -rf "$out"; mkdir -p "$out"
    venv="$ROOT/.venv-asan-$ver"
    echo "== $ver: AddressSanitizer build into $venv"
    GREENLET_SANITIZE=address install_into_venv "$ver" "$venv" "$out/build.log" || { echo "asan: $ver skipped"; status=1; continue; }

    echo "== $ver: the project's tests with ASan (reports in $out)"
    started=$SECONDS
    # Leaks are memcheck's to judge (CPython does not free everything at exit).
    eval "LD_PRELOAD=\"$RUNTIME\" PYTHONMALLOC=malloc \
        ASAN_OPTIONS=\"detect_leaks=0:log_path=$out/asan:halt_on_error=1:detect_stack_use_after_return=0\" \
        \"$venv/bin/python\" -m pytest $PYTEST_ARGS" > "$out/pytest.out" 2>&1
    rc=$?
    echo "   pytest: $(tail -1 "$out/pytest.out") ($((SECONDS - started)) s)"
    reports=("$out"/asan.*)
    if [[ -e "${reports[0]}" ]]; then
        echo "asan: ${#reports[@]} report(s); the first:"
        head -40 "${reports[0]}"
        status=1
    elif [[ $rc -ne 0 ]]; then
        echo "asan: no report, but the tests failed ($out/pytest.out)"
        status=1
    else
        echo "asan: clean (no report)"
    fi
done
exit $status
