"""Tiny server-side SVG bar charts (no JavaScript, no CDN). Pure, no Django."""

from __future__ import annotations

from html import escape

# Roughly the width of one character of the axis labels (font-size 10, the admin's sans-serif), in pixels.
CHAR_W = 6.0
LINE_H = 12


def _fmt(value: float) -> str:
    return f"{value:,.2f}" if value < 1000 else f"{value:,.0f}"


def bar_chart_svg(
    bars: list[tuple[str, float]],
    *,
    reference: float | None = None,
    reference_label: str = "",
    width: int = 760,
    height: int = 220,
    unit: str = "",
    bar_color: str = "#417690",
    over_color: str = "#ba2121",
    label_every: int = 1,
) -> str:
    """Vertical bars with an optional horizontal reference line (a budget).

    Bars above the reference are drawn in ``over_color``. Labels and values are
    escaped; each bar has a <title> so hovering shows its exact value.
    """
    left, right, top, bottom = 56, 12, 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([v for _, v in bars] + [reference or 0.0, 0.0])
    scale = plot_h / peak if peak > 0 else 0.0
    n = max(len(bars), 1)
    step = plot_w / n
    bar_w = max(step * 0.7, 1.0)
    # Labels wider than their bar's slot ran into their neighbours ("llama-cpp(NO_SUITABLE_PROVIDER)local-llama"):
    # then every other one goes a line lower, and one wider than two slots is shortened (the bar's <title>
    # keeps it whole).
    every = max(label_every, 1)
    slot = step * every
    stagger = any(len(label) * CHAR_W > slot for i, (label, _) in enumerate(bars) if i % every == 0)
    room = max(int(2 * slot / CHAR_W) - 1, 1) if stagger else None
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" class="chart">'
    ]
    # Axis and three gridlines with values.
    for frac in (0.0, 0.5, 1.0):
        y = top + plot_h - frac * plot_h
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
            f"{escape(unit)}{_fmt(peak * frac)}</text>"
        )
    for i, (label, value) in enumerate(bars):
        x = left + i * step + (step - bar_w) / 2
        h = value * scale
        color = over_color if reference is not None and value > reference else bar_color
        out.append(
            f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
            f'fill="{color}"><title>{escape(label)}: {escape(unit)}{_fmt(value)}</title></rect>'
        )
        if i % every == 0:
            lower = stagger and (i // every) % 2 == 1
            text = label if room is None or len(label) <= room else label[: room - 1] + "…"
            out.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 14 + (LINE_H if lower else 0)}" font-size="10" '
                f'text-anchor="middle">{escape(text)}</text>'
            )
    if reference is not None and scale > 0:
        y = top + plot_h - reference * scale
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{over_color}" '
            f'stroke-dasharray="6 4"/>'
        )
        out.append(
            f'<text x="{width - right}" y="{y - 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="{over_color}">{escape(reference_label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
