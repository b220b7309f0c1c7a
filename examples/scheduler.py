"""A tiny round-robin scheduler for cooperative tasks.

Each task is a plain function running in its own greenlet.  When it wants
to let others run it calls ``pause()``, which switches back to the
scheduler; the scheduler then resumes the next task in line.  Nothing is
preemptive, so the interleaving (and this program's output) is fully
deterministic.

Run:  python examples/scheduler.py
"""
from collections import deque

from greenlet import getcurrent, greenlet


class Scheduler:
    def __init__(self):
        self.ready = deque()
        # Tasks are parented to the greenlet that runs the loop, so when a
        # task returns, its result lands back in the loop's switch() call.
        self.loop_glet = None

    def spawn(self, name, func, *args):
        task = greenlet(lambda: func(*args))
        task.name = name  # greenlets have a __dict__ for bookkeeping like this
        self.ready.append(task)
        return task

    def pause(self):
        # Give up the CPU: the scheduler puts us at the back of the line.
        self.loop_glet.switch("paused")

    def run(self):
        self.loop_glet = getcurrent()
        while self.ready:
            task = self.ready.popleft()
            # A task spawned from inside another task was parented to its
            # spawner; re-point it so every result comes back here.
            task.parent = self.loop_glet
            outcome = task.switch()
            if task.dead:
                print("  [scheduler] %s finished -> %r" % (task.name, outcome))
            else:
                self.ready.append(task)


sched = Scheduler()


def counter(label, n):
    for i in range(1, n + 1):
        print("%s: step %d/%d" % (label, i, n))
        sched.pause()
    return "%s counted to %d" % (label, n)


def summer(numbers):
    total = 0
    for n in numbers:
        total += n
        print("summer: running total %d" % total)
        sched.pause()
    return total


def spawner():
    # Tasks can create new tasks; they join the end of the queue.
    print("spawner: adding a late task")
    sched.spawn("late", counter, "late", 2)
    sched.pause()
    print("spawner: done")


def main():
    sched.spawn("A", counter, "A", 3)
    sched.spawn("B", counter, "B", 2)
    sched.spawn("summer", summer, [10, 20, 30])
    sched.spawn("spawner", spawner)
    sched.run()
    print("all tasks complete")


if __name__ == "__main__":
    main()
