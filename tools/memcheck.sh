#!/usr/bin/env bash
# Runs the project's tests, and the modules of upstream's suite that fit in time, under
# valgrind memcheck, then judges the logs with tools/memcheck_report.py. Not part of CI:
# it takes about half an hour per interpreter. docs/memory-checks.md says what it checks.
#
# usage: tools/memcheck.sh [VERSION...]        (default: 3.11 3.13)
#
# For each version it builds this project with debug info (DWARF 4, which valgrind 3.19
# reads) into .venv-memcheck-X.Y, and runs, with PYTHONMALLOC=malloc so that valgrind
# sees every Python allocation, and CPython's suppression file:
#   1. pytest on tests/, less the slow and integration tests (the interpreters that tests
#      start as children run without valgrind);
#   2. the modules of upstream's suite named in GREENLET_MEMCHECK_UPSTREAM, each with
#      unittest under valgrind, from the tests ../shared/conformance/upstream_suite.sh
#      prepares (its C-API test extensions included).
# Run one version at a time: the builds share the checkout's build folder.
# Logs go to .memcheck/X.Y/. Exit status 0 only if every log is clean.
#
# Environment:
#   GREENLET_MEMCHECK_PYTEST    pytest arguments (default: the whole suite less slow
#                               and integration tests)
#   GREENLET_MEMCHECK_UPSTREAM  upstream modules (default below; "" skips upstream's suite)
#   GREENLET_VALGRIND_SUPP      CPython's suppressions (default: Debian's copy of
#                               Misc/valgrind-python.supp, /usr/lib/valgrind/python3.supp)
set -uo pipefail
shopt -s nullglob  # a run without upstream's modules has no upstream-*.log

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
GREENLET_ROOT="$ROOT"
# shellcheck source=tools/pythons.sh
source "$ROOT/tools/pythons.sh"

VERSIONS=("$@")
[[ ${#VERSIONS[@]} -gt 0 ]] || VERSIONS=(3.11 3.13)
# Less one test whose worker thread cannot finish its 100,000 spawns in the time its join
# allows, at valgrind's speed.
PYTEST_ARGS="${GREENLET_MEMCHECK_PYTEST:--q -p no:cacheprovider -m 'not slow and not integration' tests \
--deselect tests/test_observability.py::test_100k_spawns_switches_and_deaths_stay_consistent}"
UPSTREAM_MODULES="${GREENLET_MEMCHECK_UPSTREAM-test_gc test_throw test_generator test_generator_nested test_contextvars test_weakref test_tracing test_extension_interface test_greenlet_trash test_stack_saved test_cpp}"
SUPP="${GREENLET_VALGRIND_SUPP:-/usr/lib/valgrind/python3.supp}"
UPSTREAM_SUITE="$ROOT/../shared/conformance/upstream_suite.sh"

command -v valgrind >/dev/null || { echo "memcheck: valgrind is not installed (apt-get install valgrind)"; exit 2; }
[[ -f "$SUPP" ]] || { echo "memcheck: no CPython suppression file at $SUPP (set GREENLET_VALGRIND_SUPP)"; exit 2; }

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore
# valgrind 3.19 cannot read the DWARF 5 that Swift 6 emits by default.
DEBUG_FLAGS="-Xswiftc -g -Xswiftc -dwarf-version=4 -Xcc -gdwarf-4"
VALGRIND=(valgrind --tool=memcheck --suppressions="$SUPP"
          --suppressions="$ROOT/tools/valgrind-glibc.supp"
          --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite
          --num-callers=40 --error-limit=no --child-silent-after-fork=yes)

status=0
for ver in "${VERSIONS[@]}"; do
    out="$ROOT/.memcheck/$ver"
    rm -rf "$out"; mkdir -p "$out"
    venv="$ROOT/.venv-memcheck-$ver"
    echo "== $ver: building with debug info into $venv"
    GREENLET_SWIFT_FLAGS="$DEBUG_FLAGS" install_into_venv "$ver" "$venv" "$out/build.log" || { echo "memcheck: $ver skipped"; status=1; continue; }

    echo "== $ver: the project's tests under valgrind (logs in $out)"
    started=$SECONDS
    eval "PYTHONMALLOC=malloc \"\${VALGRIND[@]}\" --log-file=\"$out/pytest.%p.log\" \
        \"$venv/bin/python\" -m pytest $PYTEST_ARGS" > "$out/pytest.out" 2>&1
    echo "   pytest: $(tail -1 "$out/pytest.out") ($((SECONDS - started)) s)"

    if [[ -n "$UPSTREAM_MODULES" && -x "$UPSTREAM_SUITE" ]]; then
        echo "== $ver: upstream's suite ($UPSTREAM_MODULES) under valgrind"
        site="$("$venv/bin/python" -c 'import greenlet, os; print(os.path.dirname(os.path.dirname(greenlet.__file__)))')"
        # A plain run first: it prepares upstream's tests, their C extensions built for this
        # interpreter, and their dependencies, in its cache. Then each module runs again,
        # alone, under valgrind.
        UPSTREAM_SUITE_MODULES="$UPSTREAM_MODULES" bash "$UPSTREAM_SUITE" "$venv/bin/python" "$site" \
            > "$out/upstream-plain.out" 2>&1
        cache="${CONFORMANCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/greenlet-conformance}/upstream-suite"
        tag="$("$venv/bin/python" -c 'import sys, sysconfig; print("%d.%d%s" % (sys.version_info[:2] + ("t" if sysconfig.get_config_var("Py_GIL_DISABLED") else "",)))')"
        started=$SECONDS
        for mod in $UPSTREAM_MODULES; do
            ( cd "$cache/tests-$tag" && PYTHONMALLOC=malloc \
              PYTHONPATH="$site:$cache/tests-$tag:$cache/deps-$tag" \
              "${VALGRIND[@]}" --log-file="$out/upstream-$mod.%p.log" \
              "$venv/bin/python" -m unittest "upstream_greenlet_tests.$mod" ) > "$out/upstream-$mod.out" 2>&1
            echo "   upstream $mod: $(grep -E '^(OK|FAILED)' "$out/upstream-$mod.out" | tail -1)"
        done
        echo "   upstream modules: $((SECONDS - started)) s"
    fi

    echo "== $ver: verdict"
    python3 "$ROOT/tools/memcheck_report.py" "$out"/pytest.*.log "$out"/upstream-*.log \
        | tee "$out/verdict.txt" | grep -v "^/"
    [[ ${PIPESTATUS[0]} -eq 0 ]] || status=1
done
exit $status
