"""Charts as server-side SVG: geometry here, markup in templates/components/_charts.html.

No script and no inline style (the CSP allows neither): each shape carries a class, and the
stylesheet colours classes with the theme's variables, so a chart follows the light and dark
themes like the rest of the page. Every chart also comes with its numbers as a table, for
screen readers and for anyone who wants the exact figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from portal.domain.dashboard.figures import DayCount


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    rects: list[Rect]
    x_labels: list[Label]
    y_labels: list[Label]
    gridlines: list[float]  # y positions
    legend: list[tuple[str, str]]  # (css class, label)


@dataclass(frozen=True)
class DayRow:
    day: date
    opened: dict[str, int]
    closed: dict[str, int]

    @property
    def opened_total(self) -> int:
        return sum(self.opened.values())

    @property
    def closed_total(self) -> int:
        return sum(self.closed.values())


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (the y axis' top)."""
    if value <= 0:
        return 1
    magnitude: int = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 5, 10) if step * magnitude >= value)


def day_rows(counts: Sequence[DayCount], start: date, days: int) -> list[DayRow]:
    rows = {start + timedelta(days=n): DayRow(start + timedelta(days=n), {}, {}) for n in range(days)}
    for count in counts:
        row = rows.get(count.day)
        if row is not None:
            if count.opened:
                row.opened[count.source] = count.opened
            if count.closed:
                row.closed[count.source] = count.closed
    return list(rows.values())


def source_class(source: str, sources: Sequence[str]) -> str:
    return f"src-{source}" if source in sources else "src-other"


def opened_closed_chart(
    rows: Sequence[DayRow], sources: Sequence[str], labels: dict[str, str], *, width: int = 1100, height: int = 220
) -> Chart:
    """Per day, two stacked bars: opened (left, solid) and closed (right, faded), split by source."""
    left, right, top, bottom = 34, 8, 8, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = nice_ceiling(max([row.opened_total for row in rows] + [row.closed_total for row in rows] + [1]))
    group = plot_w / max(len(rows), 1)
    bar = max(min(group * 0.38, 24.0), 2.0)
    rects: list[Rect] = []
    x_labels: list[Label] = []
    used: list[str] = []
    for index, row in enumerate(rows):
        centre = left + group * index + group / 2
        for offset, values, kind in ((-bar - 1, row.opened, "opened"), (1, row.closed, "closed")):
            base = float(top + plot_h)
            for source in sources:
                number = values.get(source, 0)
                if not number:
                    continue
                if source not in used:
                    used.append(source)
                h = plot_h * number / peak
                base -= h
                name = labels.get(source, source)
                rects.append(
                    Rect(
                        round(centre + offset, 2),
                        round(base, 2),
                        round(bar, 2),
                        round(h, 2),
                        f"{source_class(source, sources)} bar-{kind}",
                        f"{row.day:%d %b}: {number} {kind} from {name}",
                    )
                )
        if len(rows) <= 16 or index % 2 == 0:
            x_labels.append(Label(round(centre, 2), height - 6, f"{row.day:%d %b}"))
    y_labels = [Label(left - 4, round(top + plot_h * (1 - part) + 4, 2), str(int(peak * part))) for part in (0, 0.5, 1)]
    gridlines = [round(top + plot_h * (1 - part), 2) for part in (0, 0.5, 1)]
    legend = [(source_class(source, sources), labels.get(source, source)) for source in sources if source in used]
    return Chart(width, height, rects, x_labels, y_labels, gridlines, legend)


def sparkline(
    series: Sequence[tuple[str, str, Sequence[int]]], *, width: int = 240, height: int = 36, titles: Sequence[str] = ()
) -> Chart:
    """Small side-by-side bars per slot (an hour, say): series are (css class, name, values); no axes."""
    slots = max((len(values) for _, _, values in series), default=0)
    peak = max([value for _, _, values in series for value in values] + [1])
    group = width / max(slots, 1)
    bar = max(group / max(len(series), 1) - 1, 1.0)
    rects = []
    for slot in range(slots):
        for position, (css, name, values) in enumerate(series):
            value = values[slot] if slot < len(values) else 0
            if not value:
                continue
            h = max((height - 2) * value / peak, 1.5)
            title = titles[slot] if slot < len(titles) else f"slot {slot}"
            rects.append(
                Rect(
                    round(group * slot + position * (bar + 1), 2),
                    round(height - h, 2),
                    round(bar, 2),
                    round(h, 2),
                    css,
                    f"{title}: {value} {name}",
                )
            )
    legend = [(css, name) for css, name, _ in series]
    return Chart(width, height, rects, [], [], [float(height) - 0.5], legend)
