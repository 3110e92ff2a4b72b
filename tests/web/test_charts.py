"""The admin's SVG bar charts: axis labels stay readable whatever the providers are called."""

from __future__ import annotations

import re

from orchestrator_site.web.charts import bar_chart_svg

CHAR_W = 6.0  # about one character of a font-size 10 label, in pixels


def _labels(svg: str) -> list[tuple[float, float, str]]:
    """(x, y, text) of every axis label under the bars."""
    return [
        (float(x), float(y), text)
        for x, y, text in re.findall(
            r'<text x="([\d.]+)" y="([\d.]+)" font-size="10" text-anchor="middle">([^<]*)<', svg
        )
    ]


def test_long_neighbouring_labels_do_not_run_into_each_other_and_keep_their_full_name_in_the_title() -> None:
    # What the dashboard drew for the walk: "llama-cpp(NO_SUITABLE_PROVIDER)local-llama" on one line.
    bars: list[tuple[str, float]] = [
        ("llama-cpp", 11),
        ("(NO_SUITABLE_PROVIDER)", 9),
        ("local-llama", 6),
        ("fake-bad", 5),
    ]
    bars.append(("a-provider-key-much-longer-than-two-bars-of-the-chart", 1))
    svg = bar_chart_svg(bars, width=90 * len(bars) + 70, height=200)
    labels = _labels(svg)
    assert len(labels) == len(bars)
    for line in {y for _, y, _ in labels}:
        row = sorted((x, text) for x, y, text in labels if y == line)
        for (x1, t1), (x2, t2) in zip(row, row[1:], strict=False):
            assert x1 + len(t1) * CHAR_W / 2 <= x2 - len(t2) * CHAR_W / 2, (t1, t2)
    assert labels[-1][2].endswith("…")
    assert "<title>a-provider-key-much-longer-than-two-bars-of-the-chart: 1.00</title>" in svg


def test_short_labels_stay_on_one_line_as_they_are() -> None:
    svg = bar_chart_svg([(f"11-{d:02}", 1.0) for d in range(1, 31)], width=760, label_every=3)
    labels = _labels(svg)
    assert len({y for _, y, _ in labels}) == 1 and [t for _, _, t in labels][:2] == ["11-01", "11-04"]
