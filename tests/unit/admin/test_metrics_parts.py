"""The bounded per-account series and the commit histogram, as plain data."""

from __future__ import annotations

from router.admin.metrics import top_n
from router.model.histogram import Histogram


def test_top_n_sums_the_rest_as_other() -> None:
    counts = {f"a{i}": i for i in range(1, 31)}
    top = top_n(counts, 3)
    assert top == [("a30", 30), ("a29", 29), ("a28", 28), ("other", sum(range(1, 28)))]
    assert top_n({"x": 1}, 3) == [("x", 1)]


def test_histogram_is_cumulative() -> None:
    h = Histogram((0.001, 0.01))
    for v in (0.0005, 0.001, 0.005, 2.0):
        h.observe(v)
    assert h.cumulative() == [("0.001", 2), ("0.01", 3), ("+Inf", 4)]
    assert h.total == 4 and abs(h.sum - 2.0065) < 1e-9
