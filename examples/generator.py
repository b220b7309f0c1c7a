"""A generator built from a greenlet, with no ``yield`` anywhere.

A Python generator can only yield from its own frame: to produce values
from inside nested calls, every level must become a generator too
(``yield from`` all the way down).  A greenlet can suspend its *whole*
stack, so an ordinary recursive function can hand out values from any
depth.  Here a plain recursive in-order tree walk becomes an iterator.

Run:  python examples/generator.py
"""
from greenlet import getcurrent, greenlet


class Done:
    """Marks the end of the stream, distinguishable from any user value."""


class GreenletGenerator:
    """Iterate over the values a function passes to ``emit()``."""

    def __init__(self, producer, *args):
        def body():
            producer(emit, *args)
            return Done

        # The greenlet holds no reference back to `self`, so dropping the
        # iterator early frees it and greenlet kills the suspended producer.
        self.glet = greenlet(body)

    def __iter__(self):
        return self

    def __next__(self):
        if self.glet.dead:
            raise StopIteration
        # Values go to the greenlet's parent; make that whoever asked for
        # this one, so the iterator can be consumed from any greenlet.
        self.glet.parent = getcurrent()
        value = self.glet.switch()
        if value is Done:
            raise StopIteration
        return value


def emit(value):
    # Suspend the producer's entire stack, however deep, and send the value
    # to the consumer; resume right here when the next value is wanted.
    getcurrent().parent.switch(value)


class Node:
    def __init__(self, key, left=None, right=None):
        self.key, self.left, self.right = key, left, right


def insert(node, key):
    if node is None:
        return Node(key)
    if key < node.key:
        node.left = insert(node.left, key)
    else:
        node.right = insert(node.right, key)
    return node


def in_order(emit, node):
    # An ordinary recursive function: no generator machinery at any level.
    if node is not None:
        in_order(emit, node.left)
        emit(node.key)
        in_order(emit, node.right)


def main():
    root = None
    for word in ["mango", "apple", "pear", "kiwi", "banana", "fig", "cherry", "plum"]:
        root = insert(root, word)

    count = 0
    for word in GreenletGenerator(in_order, root):
        count += 1
        print("%d. %s" % (count, word))

    # Stopping early is fine too: the abandoned walk is cleaned up.
    first_three = []
    for word in GreenletGenerator(in_order, root):
        first_three.append(word)
        if len(first_three) == 3:
            break
    print("first three:", ", ".join(first_three))
    print("walked %d words in order without yield" % count)


if __name__ == "__main__":
    main()
