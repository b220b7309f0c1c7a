"""Judge a run of upstream greenlet's suite (../shared/conformance/upstream_suite.sh) against
the deviations this project expects and documents in tools/upstream_expected.txt.

usage: python3 tools/upstream_verdict.py [--dedicated] RESULTS_JSON [EXPECTED_FILE]

Exit status 0 only if the tests that did not pass are exactly those listed for the run's
interpreter, each failing the way its kind says. A listed test that passes is a failure too:
for a fixed leak, it means the leak is back.

--dedicated judges a run made with GREENLET_STACK_MODE=dedicated: the lines for
"X.Y+dedicated" then apply too (tests that assert stack copying itself).
"""
import json
import os
import sys

FIXED_LEAK_MESSAGE = "to leak but it did not"
NOT_PASSING = ("fail", "error", "crash", "timeout")


def load_expected(path, tags):
    expected = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.split(None, 3)
            if len(fields) < 3 or fields[1] not in ("fixed-leak", "flaky-leak", "cpython", "copying"):
                raise SystemExit("%s: cannot read %r" % (path, line))
            if fields[0] in tags:
                expected[fields[2]] = fields[1]
    return expected


def outcomes(results):
    """{module.Class.method: (status, detail)} for every test of the run."""
    found = {}
    for module in results["modules"].values():
        for name, test in module.get("tests", {}).items():
            short = name.split("upstream_greenlet_tests.", 1)[-1]
            found[short] = (test["status"], test.get("detail") or "")
    return found


def main():
    args = sys.argv[1:]
    dedicated = "--dedicated" in args
    args = [a for a in args if a != "--dedicated"]
    if len(args) not in (1, 2):
        raise SystemExit(__doc__)
    with open(args[0], encoding="utf-8") as f:
        results = json.load(f)
    here = os.path.dirname(os.path.abspath(__file__))
    tags = {results["tag"]} | ({results["tag"] + "+dedicated"} if dedicated else set())
    expected = load_expected(args[1] if len(args) == 2 else
                             os.path.join(here, "upstream_expected.txt"), tags)
    tests = outcomes(results)
    problems = []
    for name, (status, detail) in sorted(tests.items()):
        kind = expected.get(name)
        failing = status in NOT_PASSING
        if failing and kind is None:
            problems.append("unexpected %s: %s -- %s" % (status, name, detail.splitlines()[-1:]))
        elif not failing and kind not in (None, "flaky-leak"):
            problems.append("expected to fail (%s), but %s: %s" % (kind, status, name))
        elif failing and kind in ("fixed-leak", "flaky-leak") and FIXED_LEAK_MESSAGE not in detail:
            problems.append("fails otherwise than by not leaking: %s -- %s" % (name, detail[-300:]))
        elif failing and kind == "copying" and "AssertionError" not in detail:
            problems.append("fails otherwise than by an assertion about copying: %s -- %s"
                            % (name, detail[-300:]))
    modules_run = set(results["modules"])
    for name in sorted(set(expected) - set(tests)):
        if name.split(".", 1)[0] in modules_run:
            problems.append("listed but not run: %s" % name)
    counts = results["counts"]
    kinds = list(expected.values())
    print("upstream suite on %s%s: %d passed, %d not passing; expected: %d fixed leaks, %d that may "
          "leak or not, %d failing for upstream too, %d asserting stack copying" % (
              results["tag"], " (dedicated stacks)" if dedicated else "",
              counts["passed"], counts["failed"] + counts["errors"] + counts["crashed"],
              kinds.count("fixed-leak"), kinds.count("flaky-leak"), kinds.count("cpython"),
              kinds.count("copying")))
    for problem in problems:
        print("  " + problem)
    print("VERDICT: %s" % ("PASS" if not problems else "FAIL"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
