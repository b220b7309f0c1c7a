"""A round-robin scheduler in a few dozen lines: the tutorial's second example.

Each task is a greenlet. A task gives up its turn by calling ``pause()``,
from any depth of ordinary function calls. The loop runs in the main
greenlet and resumes the tasks in turn until none is left.

Run:  python docs/tutorial_scheduler.py
"""
from collections import deque

from greenlet import getcurrent, greenlet


class Scheduler:
    def __init__(self):
        self.ready = deque()  # greenlets waiting for their turn
        self.loop = None      # the greenlet that runs run()

    def spawn(self, name, func, *args):
        task = greenlet(lambda: func(*args))
        task.name = name      # a greenlet has a __dict__, like most objects
        self.ready.append(task)

    def pause(self):
        # Back of the line, then back to the loop. The loop's switch()
        # returns, and this call returns on our next turn.
        self.ready.append(getcurrent())
        self.loop.switch()

    def run(self):
        self.loop = getcurrent()
        while self.ready:
            task = self.ready.popleft()
            # When a task ends, control and its result go to its parent.
            task.parent = self.loop
            try:
                result = task.switch()
            except Exception as exc:
                print(f"  {task.name} failed: {exc!r}")
                continue
            if task.dead:
                print(f"  {task.name} returned {result!r}")


sched = Scheduler()


def download(url):
    # An ordinary function. It pauses deep inside, yet nothing
    # above it needs to know: no yield, no await.
    print(f"{url}: waiting")
    sched.pause()
    return len(url)


def crawler(name, urls):
    total = 0
    for url in urls:
        total += download(url)
    return f"{name} read {total} bytes"


def faulty():
    sched.pause()
    raise ValueError("disk full")


def main():
    sched.spawn("c1", crawler, "c1", ["a.example/1", "a.example/2"])
    sched.spawn("c2", crawler, "c2", ["b.example/index"])
    sched.spawn("faulty", faulty)
    sched.run()
    print("all tasks done")


if __name__ == "__main__":
    main()
