"""lazydc.dataclass behaves as dataclasses.dataclass, with the class built on first use."""

import dataclasses
import pickle
import subprocess
import sys
import threading

import pytest

from lazydc import dataclass


def make():
    @dataclass(frozen=True)
    class Point:
        x: int
        tags: list = dataclasses.field(default_factory=list)

    @dataclass(frozen=True)
    class Labelled(Point):
        label: str = "p"

    @dataclass(eq=False)
    class Box:
        size: int = 1

    @dataclass
    class Plain:
        a: int = 0

    return Point, Labelled, Box, Plain


def test_a_class_is_built_only_when_first_used():
    point, *_ = make()
    assert "__lazydc_options__" in point.__dict__
    assert point(1) == point(1, [])
    assert "__lazydc_options__" not in point.__dict__


def test_methods_and_helpers_are_the_standard_ones():
    point, labelled, box, plain = make()
    p = labelled(1, [2], "q")
    assert repr(p) == "make.<locals>.Labelled(x=1, tags=[2], label='q')"
    assert p == labelled(1, [2], "q") and p != labelled(2)
    assert hash(point(1, ())) == hash(point(1, ()))
    assert [f.name for f in dataclasses.fields(p)] == ["x", "tags", "label"]
    assert dataclasses.replace(p, x=5) == labelled(5, [2], "q")
    assert dataclasses.asdict(p) == {"x": 1, "tags": [2], "label": "q"}
    assert dataclasses.is_dataclass(box) and box.__match_args__ == ("size",)
    b = box()
    b.size = 3
    assert b != box(3) and repr(b) == "make.<locals>.Box(size=3)"
    with pytest.raises(TypeError, match="unhashable"):
        hash(plain())


def test_frozen_holds_for_an_instance_made_as_unpickling_does():
    point, *_ = make()
    clone = point.__new__(point)  # what pickle does: no __init__, then the __dict__ filled
    clone.__dict__.update({"x": 3, "tags": []})
    assert "__lazydc_options__" in point.__dict__
    with pytest.raises(dataclasses.FrozenInstanceError):
        clone.x = 4
    assert clone == point(3)


def test_a_pickled_instance_loads_without_building_its_class():
    code = (
        "import pickle, sys\n"
        "from compose.config.model import Port\n"
        "port = pickle.loads(sys.stdin.buffer.read())\n"
        "print('__lazydc_options__' in Port.__dict__, port.target)\n"
        "print(port == Port(target=80, published='8080'))\n"
    )
    from compose.config.model import Port

    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(Port(target=80, published="8080")),
                         capture_output=True, check=True).stdout
    assert out == b"True 80\nTrue\n"


def test_threads_build_a_class_once():
    point, *_ = make()
    results = []
    threads = [threading.Thread(target=lambda: results.append(point(1))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [point(1)] * 8


def test_a_plain_subclass_inherits_the_built_methods():
    point, *_ = make()

    class Sub(point):
        pass

    assert repr(Sub(2)) == "test_a_plain_subclass_inherits_the_built_methods.<locals>.Sub(x=2, tags=[])"
