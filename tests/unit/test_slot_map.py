"""SlotMap's hash table against a plain dict: placing, looking up, releasing in any order."""

from __future__ import annotations

import random

import numpy as np
import pytest

from worker.slot_map import SlotMap


def _check(slots: SlotMap, expected: dict[str, int], names: list[str]) -> None:
    assert len(slots) == len(expected)
    assert sorted(slots.series_ids()) == sorted(expected)
    assert sorted(slots.occupied().tolist()) == sorted(expected.values())
    assert slots.lookup(names).tolist() == [expected.get(n, -1) for n in names]
    for name in names:
        assert slots.get(name) == expected.get(name)
        assert (name in slots) == (name in expected)
    for name, slot in expected.items():
        assert slots.name(slot) == name


@pytest.mark.parametrize("seed", range(5))
def test_the_table_finds_what_a_dict_would(seed: int) -> None:
    """A small capacity, so probe runs collide, wrap around the table's end and are cut by
    releases (the entries after a released one must still be found)."""
    rng = random.Random(seed)
    capacity = 37
    names = [f"s{i}" for i in range(120)]
    slots, expected = SlotMap(capacity), dict[str, int]()
    for _ in range(400):
        if expected and rng.random() < 0.4:
            for name in rng.sample(sorted(expected), rng.randint(1, len(expected))):
                assert slots.release(expected.pop(name)) == name
        else:
            room = capacity - len(expected)
            batch = [rng.choice(names) for _ in range(rng.randint(1, 12))]
            fresh = {n for n in batch if n not in expected}
            if len(fresh) > room:
                continue
            out, new = slots.place(batch, lambda count: pytest.fail("no room was needed"))
            for i, name in enumerate(batch):
                expected.setdefault(name, int(out[i]))
                assert out[i] == expected[name]
            assert {batch[i] for i in new.tolist()} == fresh
        _check(slots, expected, names)


def test_a_full_map_makes_room_for_the_least_recently_seen() -> None:
    slots = SlotMap(3)
    slots.place(["a", "b", "c"], lambda count: pytest.fail("no room was needed"))
    slots.place(["a"], lambda count: pytest.fail("no room was needed"))
    released: list[str] = []

    def make_room(count: int) -> None:
        released.extend(slots.release(s) for s in slots.least_recently_seen(count))

    out, new = slots.place(["d", "e"], make_room)
    assert sorted(released) == ["b", "c"] and new.tolist() == [0, 1]
    assert sorted(slots.series_ids()) == ["a", "d", "e"]
    assert np.array_equal(slots.lookup(["d", "e"]), out)
