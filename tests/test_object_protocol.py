"""Generic object behaviour: instance __dict__, repr, pickling and copying."""
import copy
import pickle
import re

import pytest

from greenlet import getcurrent, greenlet

# %p of a NULL pointer is "(nil)" with glibc (CPython prefixes "0x" itself);
# other C libraries print 0 instead.
PTR = r"0x[0-9a-fA-F]+"
OTID = r"(?:0x[0-9a-fA-F]+|0x\(nil\))"
NULL_OTID = r"(?:0x0+|0x\(nil\))"


class TestInstanceDict:
    def test_arbitrary_attributes(self):
        """Greenlets are used as task objects, so they carry user data."""
        g = greenlet(lambda: None)
        g.name = "worker-1"
        g.priority = 5
        assert g.name == "worker-1"
        assert g.__dict__ == {"name": "worker-1", "priority": 5}
        del g.priority
        assert not hasattr(g, "priority")

    def test_dict_starts_empty(self):
        """No hidden entries show up in a fresh instance dict."""
        assert greenlet(lambda: None).__dict__ == {}

    def test_attributes_survive_the_lifecycle(self):
        """User data is readable from inside the greenlet and after death."""
        main = getcurrent()
        g = greenlet(lambda: main.switch(getcurrent().tag))
        g.tag = "tagged"
        assert g.switch() == "tagged"
        g.switch()
        assert g.dead and g.tag == "tagged"

    def test_main_greenlet_has_a_dict_too(self, main_greenlet):
        """Main greenlets are regular instances in this respect."""
        main = main_greenlet
        main.__dict__["test_object_protocol_marker"] = 1
        try:
            assert main.test_object_protocol_marker == 1
        finally:
            del main.__dict__["test_object_protocol_marker"]

    def test_replace_with_another_dict(self):
        """Assigning __dict__ swaps in the given mapping object itself."""
        g = greenlet(lambda: None)
        g.old = True
        replacement = {"new": True}
        g.__dict__ = replacement
        assert g.__dict__ is replacement
        assert g.new is True
        assert not hasattr(g, "old")

    def test_dict_subclass_is_accepted(self):
        """The check is isinstance(dict), not an exact type match."""
        class MyDict(dict):
            pass

        g = greenlet(lambda: None)
        g.__dict__ = MyDict(flavour="custom")
        assert g.flavour == "custom"

    @pytest.mark.parametrize("bogus", [None, [], (("a", 1),), "dict"])
    def test_replace_with_non_dict_fails(self, bogus):
        """Anything that is not a dict is refused with upstream's message."""
        g = greenlet(lambda: None)
        with pytest.raises(TypeError) as info:
            g.__dict__ = bogus
        assert str(info.value) == "__dict__ must be a dictionary"

    def test_dict_cannot_be_deleted(self):
        """The instance dict is mandatory."""
        g = greenlet(lambda: None)
        with pytest.raises(TypeError) as info:
            del g.__dict__
        assert str(info.value) == "__dict__ may not be deleted"

    def test_builtin_attributes_are_not_shadowed_by_dict(self):
        """Descriptors like ``dead`` and ``parent`` are data descriptors on
        the type, so a dict entry of the same name doesn't override them."""
        g = greenlet(lambda: None)
        g.__dict__["dead"] = "fake"
        g.__dict__["parent"] = "fake"
        assert g.dead is False
        assert g.parent is getcurrent()


class TestRepr:
    def test_main_greenlet_is_current_and_main(self, main_greenlet):
        """Flags for the main greenlet while it runs the tests."""
        main = main_greenlet
        if getcurrent() is not main:
            pytest.skip("test runner is not in the main greenlet")
        assert re.fullmatch(
            r"<greenlet\.greenlet object at %s \(otid=%s\) current active started main>"
            % (PTR, OTID),
            repr(main),
        ), repr(main)

    def test_main_seen_from_a_child_is_suspended(self, main_greenlet):
        """'current' follows whoever is running, not who is main."""
        text = greenlet(lambda: repr(main_greenlet)).switch()
        assert re.fullmatch(
            r"<greenlet\.greenlet object at %s \(otid=%s\) suspended active started main>"
            % (PTR, OTID),
            text,
        ), text

    def test_pending(self):
        """Not started: no thread yet, so otid is a null pointer."""
        g = greenlet(lambda: None)
        text = repr(g)
        assert re.fullmatch(
            r"<greenlet\.greenlet object at %s \(otid=%s\) pending>" % (PTR, NULL_OTID),
            text,
        ), text

    def test_current_non_main(self):
        """A running child is current/active/started without 'main'."""
        text = greenlet(lambda: repr(getcurrent())).switch()
        assert re.fullmatch(
            r"<greenlet\.greenlet object at %s \(otid=%s\) current active started>"
            % (PTR, OTID),
            text,
        ), text

    def test_suspended(self):
        """A started greenlet that switched away."""
        main = getcurrent()
        g = greenlet(lambda: main.switch())
        g.switch()
        text = repr(g)
        assert re.fullmatch(
            r"<greenlet\.greenlet object at %s \(otid=%s\) suspended active started>"
            % (PTR, OTID),
            text,
        ), text
        g.switch()

    def test_dead(self):
        """Finished greenlets show only 'dead'."""
        g = greenlet(lambda: None)
        g.switch()
        text = repr(g)
        assert re.fullmatch(
            r"<greenlet\.greenlet object at %s \(otid=%s\) dead>" % (PTR, OTID), text
        ), text

    def test_address_is_the_object_id(self):
        """The address is the object's id(), as for the default repr."""
        g = greenlet(lambda: None)
        address = re.match(r"<greenlet\.greenlet object at (0x[0-9a-fA-F]+) ", repr(g))
        assert int(address.group(1), 16) == id(g)

    def test_started_greenlets_share_their_thread_otid(self, main_greenlet):
        """otid identifies the thread, so it matches the main greenlet's."""
        main = getcurrent()
        g = greenlet(lambda: main.switch())
        g.switch()
        otid = re.compile(r"\(otid=([^)]*\)?)\)")
        assert otid.search(repr(g)).group(1) == otid.search(repr(main_greenlet)).group(1)
        g.switch()

    def test_subclass_uses_bare_class_name(self):
        """Heap types report their tp_name, which is just the class name."""

        class Worker(greenlet):
            pass

        text = repr(Worker())
        assert re.fullmatch(
            r"<Worker object at %s \(otid=%s\) pending>" % (PTR, NULL_OTID), text
        ), text


class TestNoSerialisation:
    """A greenlet is a live stack; copying or pickling it is refused."""

    @pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
    def test_pickle_modern_protocols(self, protocol):
        """__getstate__ refuses with upstream's message for protocol >= 2."""
        with pytest.raises(TypeError) as info:
            pickle.dumps(greenlet(lambda: None), protocol)
        assert str(info.value) == "cannot serialize 'greenlet.greenlet' object"

    def test_pickle_default_protocol(self):
        """The default protocol takes the __getstate__ path."""
        with pytest.raises(TypeError, match=r"^cannot serialize 'greenlet\.greenlet' object$"):
            pickle.dumps(greenlet(lambda: None))

    @pytest.mark.parametrize("protocol", [0, 1])
    def test_pickle_legacy_protocols(self, protocol):
        """Protocols 0/1 go through copyreg, whose wording is CPython's.

        copyreg names the class by its __name__, not its qualified name; the
        wording is the same on CPython 3.10 to 3.15."""
        with pytest.raises(TypeError, match=r"^cannot pickle 'greenlet' object$"):
            pickle.dumps(greenlet(lambda: None), protocol)

    def test_copy(self):
        """copy.copy uses the same reduce machinery and must refuse too."""
        with pytest.raises(TypeError) as info:
            copy.copy(greenlet(lambda: None))
        assert str(info.value) == "cannot serialize 'greenlet.greenlet' object"

    def test_deepcopy(self):
        """deepcopy must not try to duplicate a stack."""
        with pytest.raises(TypeError) as info:
            copy.deepcopy(greenlet(lambda: None))
        assert str(info.value) == "cannot serialize 'greenlet.greenlet' object"

    def test_main_and_suspended_also_refused(self, main_greenlet):
        """The refusal doesn't depend on the greenlet's state."""
        main = getcurrent()
        g = greenlet(lambda: main.switch())
        g.switch()
        for obj in (main_greenlet, g):
            with pytest.raises(TypeError, match=r"^cannot serialize 'greenlet\.greenlet' object$"):
                pickle.dumps(obj)
            with pytest.raises(TypeError, match=r"^cannot serialize 'greenlet\.greenlet' object$"):
                copy.copy(obj)
        g.switch()

    def test_getstate_raises(self):
        """__getstate__ itself is the hook that refuses."""
        with pytest.raises(TypeError, match=r"^cannot serialize 'greenlet\.greenlet' object$"):
            greenlet(lambda: None).__getstate__()

    def test_subclass_message_uses_its_name(self):
        """The message names the actual type."""
        class Job(greenlet):
            pass

        with pytest.raises(TypeError) as info:
            pickle.dumps(Job())
        assert str(info.value) == "cannot serialize 'Job' object"
        with pytest.raises(TypeError, match=r"^cannot serialize 'Job' object$"):
            copy.deepcopy(Job())
