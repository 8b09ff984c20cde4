"""Chart geometry: bars in proportion, stacked by source, every day present, titles that say the number."""

from __future__ import annotations

from datetime import date

from portal.domain.dashboard.figures import DayCount
from portal.web.charts import day_rows, nice_ceiling, opened_closed_chart, sparkline

START = date(2026, 11, 1)


def test_the_axis_top_is_a_round_number_at_or_above_the_peak() -> None:
    assert [nice_ceiling(n) for n in (0, 1, 3, 7, 10, 11, 180, 501)] == [1, 1, 5, 10, 10, 20, 200, 1000]


def test_every_day_is_a_row_even_without_tickets() -> None:
    rows = day_rows([DayCount(date(2026, 11, 3), "acme", 4, 1), DayCount(date(2026, 12, 30), "acme", 9, 9)], START, 5)
    assert [row.day.day for row in rows] == [1, 2, 3, 4, 5]
    assert [(row.opened_total, row.closed_total) for row in rows] == [(0, 0), (0, 0), (4, 1), (0, 0), (0, 0)]


def test_bars_stack_by_source_in_proportion() -> None:
    counts = [DayCount(START, "sentinel", 6, 0), DayCount(START, "acme", 4, 5)]
    chart = opened_closed_chart(day_rows(counts, START, 2), ["sentinel", "acme"], {"sentinel": "Sentinel"})
    opened = [rect for rect in chart.rects if "bar-opened" in rect.css]
    closed = [rect for rect in chart.rects if "bar-closed" in rect.css]
    assert [rect.css.split()[0] for rect in opened] == ["src-sentinel", "src-acme"]
    assert opened[0].height / opened[1].height == 6 / 4
    assert opened[1].y + opened[1].height == opened[0].y  # acme sits on top of sentinel
    assert closed[0].title == "01 Nov: 5 closed from acme"
    assert opened[0].title == "01 Nov: 6 opened from Sentinel"
    assert [label.text for label in chart.y_labels] == ["0", "5", "10"]  # the peak, 10, rounds to 10
    assert chart.legend == [("src-sentinel", "Sentinel"), ("src-acme", "acme")]


def test_a_sparkline_leaves_empty_slots_empty() -> None:
    chart = sparkline([("spark-429", "rate limited", [0, 2, 0]), ("spark-failed", "failed", [1, 0, 0])])
    assert [rect.title for rect in chart.rects] == ["slot 0: 1 failed", "slot 1: 2 rate limited"]
