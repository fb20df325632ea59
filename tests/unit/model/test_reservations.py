"""Open reservations kept as runs a batch and entries an id (requirements §5: "a message
reserves its cost when accepted, the charge is kept on success and returned on final
failure"): whatever the order of answers, each id closes once, with its own account and
cost, exactly as a dict of every open id would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from router.model.reservations import Entry, Reservations

_BASE = 1_770_000_000_000 << 16  # ids as the router makes them: 57-bit


@st.composite
def _steps(draw: st.DrawFn) -> list[tuple[str, object]]:
    steps: list[tuple[str, object]] = []
    next_id = _BASE
    for _ in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(["run", "entries", "pop", "close", "get"]))
        if kind == "run":
            count = draw(st.integers(1, 8))
            steps.append(("run", (next_id, count, draw(st.sampled_from("ab")),
                                  draw(st.integers(1, 3)))))
            next_id += count + draw(st.integers(0, 2))
        elif kind == "entries":
            count = draw(st.integers(1, 4))
            steps.append(("entries", [(next_id + i, (draw(st.sampled_from("ab")), i + 1,
                                                     draw(st.booleans())))
                                      for i in range(count)]))
            next_id += count
        else:
            ids = draw(st.lists(st.integers(_BASE - 2, next_id + 2), max_size=10))
            if draw(st.booleans()) and next_id > _BASE:  # a consecutive span, shuffled
                low = draw(st.integers(_BASE, next_id - 1))
                ids = draw(st.permutations(list(range(low, min(next_id, low + 9)))))
            steps.append((kind, ids))
    return steps


@settings(max_examples=600, deadline=None)
@given(_steps())
def test_runs_and_entries_close_each_id_once_like_a_dict(steps: list[tuple[str, object]]
                                                         ) -> None:
    model: dict[int, Entry] = {}
    kept = Reservations()

    for kind, arg in steps:
        if kind == "run":
            first, count, account, cost = arg  # type: ignore[misc]
            kept.open_run(first, count, account, cost)
            model.update((first + i, (account, cost, False)) for i in range(count))
        elif kind == "entries":
            kept.update(arg)  # type: ignore[arg-type]
            model.update(arg)  # type: ignore[arg-type]
        elif kind == "pop":
            for message_id in arg:  # type: ignore[attr-defined]
                assert kept.pop(message_id) == model.pop(message_id, None)
        elif kind == "get":
            for message_id in arg:  # type: ignore[attr-defined]
                assert kept.get(message_id) == model.get(message_id)
        else:
            ids: list[int] = arg  # type: ignore[assignment]
            closed, left = kept.close_runs(ids)
            done = [first + i for _, first, n in closed for i in range(n)]
            assert sorted(done + left) == sorted(ids)
            assert len(set(done)) == len(done)
            for account, first, n in closed:  # each was open, in its run's account
                for message_id in range(first, first + n):
                    entry = model.pop(message_id)
                    assert entry[0] == account and not entry[2]
        assert sorted(kept) == sorted(model)
        assert bool(kept) == bool(model)


def test_a_carrier_read_closes_each_batch_share_in_one_step() -> None:
    kept = Reservations()
    kept.open_run(_BASE, 64, "acc", 2)
    kept.open_run(_BASE + 64, 10, "other", 1)
    kept.open_run(_BASE + 65_536, 5, "acc", 2)  # the next millisecond's ids
    assert kept.close_runs([_BASE + i for i in (2, 0, 1)]) == ([("acc", _BASE, 3)], [])
    assert kept.close_runs([_BASE + 1, _BASE + 3]) == ([], [_BASE + 1, _BASE + 3])  # a gap
    read = [*range(_BASE + 3, _BASE + 70), *range(_BASE + 65_536, _BASE + 65_538)]
    assert kept.close_runs(read) == ([("acc", _BASE + 3, 61), ("other", _BASE + 64, 6),
                                      ("acc", _BASE + 65_536, 2)], [])
    assert kept.close_runs([_BASE + 80, _BASE + 70]) == ([("other", _BASE + 70, 1)],
                                                        [_BASE + 80])
    assert sorted(kept) == [*range(_BASE + 71, _BASE + 74), *range(_BASE + 65_538,
                                                                  _BASE + 65_541)]
