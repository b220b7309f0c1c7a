"""Long chains of suspended greenlets, each holding the previous one, die cleanly.

Dropping the head of such a chain deallocates every link in a cascade: each
link is killed with GreenletExit, which releases the previous link, which is
killed in turn. Upstream greenlet 3.5.6 crashes here from CPython 3.13 on (on
3.13 from a few thousand links); these run the cascade in a child process so
that a crash fails the test instead of the whole run.
"""
import pytest

from _support import run_python

pytestmark = pytest.mark.slow

UPSTREAM_CRASHES = (
    "upstream crashes freeing a long chain of suspended greenlets, recursing once per "
    "link on the C stack")

CHAIN_SCRIPT = """
    import gc, sys
    import greenlet

    links = int(sys.argv[1])
    mode = sys.argv[2]
    finished = []

    def link(previous):
        try:
            greenlet.getcurrent().parent.switch()
        finally:
            finished.append(1)
        return previous

    head = None
    for _ in range(links):
        g = greenlet.greenlet(link)
        g.switch(head)
        head = g
    del g
    if mode == "cycle":
        # The chain also sits in a reference cycle, so the collector drops it.
        holder = [head]
        holder.append(holder)
        del holder
    head = None
    gc.collect()
    stack_kb = [int(line.split()[1]) for line in open("/proc/self/status")
                if line.startswith("VmStk:")]
    print("finished", len(finished))
    print("stack_kb", stack_kb[0] if stack_kb else 0)
"""


def run_chain(links, mode="drop"):
    """Run the chain in a child; returns its output words: finished N stack_kb K."""
    result = run_python(CHAIN_SCRIPT, links, mode, timeout=600)
    result.assert_clean()
    return result.out.split()


@pytest.mark.parametrize("links", [
    pytest.param(3_000, marks=pytest.mark.beyond_upstream(
        UPSTREAM_CRASHES, since=(3, 13), before=(3, 14))),
    pytest.param(100_000, marks=[
        pytest.mark.beyond_upstream(UPSTREAM_CRASHES, since=(3, 13), before=(3, 14)),
        # From 3.14 upstream's stack reaches about 8 MB here, and whether it crashes is chance.
        pytest.mark.beyond_upstream(UPSTREAM_CRASHES + " (by chance)", since=(3, 14), sometimes=True),
    ]),
])
def test_dropping_the_head_of_a_long_chain_kills_every_link(links):
    assert run_chain(links)[:2] == ["finished", str(links)]


@pytest.mark.beyond_upstream(UPSTREAM_CRASHES, since=(3, 13))
def test_a_long_chain_dies_on_a_shallow_stack():
    """Each link's kill frees the next link, so the kills nest. Past a fixed depth they are
    queued and run one after the other instead, so the stack stays shallow: deep nests would
    make every switch copy the whole nest (CPython 3.14's stack-based trashcan lets them grow
    to the full 8 MB) and cost time quadratic in the chain's length."""
    words = run_chain(50_000)
    assert words[:2] == ["finished", "50000"]
    assert int(words[3]) < 2048, "the main thread's stack grew to %s KB" % words[3]


@pytest.mark.beyond_upstream(UPSTREAM_CRASHES, since=(3, 13), before=(3, 14))
@pytest.mark.beyond_upstream(UPSTREAM_CRASHES + " (by chance on 3.14)", since=(3, 14), before=(3, 15),
                             sometimes=True)
@pytest.mark.beyond_upstream(
    "on CPython 3.15 upstream's collector frees the links without killing them, so none of "
    "their finally blocks runs", since=(3, 15))
def test_a_chain_released_by_the_cyclic_collector_dies_cleanly():
    assert run_chain(20_000, mode="cycle")[:2] == ["finished", "20000"]
