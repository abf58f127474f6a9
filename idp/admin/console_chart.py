"""The dashboard chart: sign-ins per hour per app as an inline SVG line chart, drawn on the
server (no JavaScript, no CDN). Colours are SVG presentation attributes, not `style`, so the
pages' strict Content-Security-Policy (style-src 'self') holds."""

from __future__ import annotations

from html import escape

from markupsafe import Markup

from idp.admin.service_audit import HourlyStats

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 34
MAX_LINES = 6  # more apps than this are summed up as "other apps"
# distinguishable, and readable by people with the common colour-vision deficiencies (Okabe-Ito)
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999999")


def _nice_ceiling(value: int) -> int:
    """1, 2, 5, 10, 20, 50, … at or above value (gridlines at round numbers)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def chart_series(stats: HourlyStats, others_label: str) -> list[tuple[str, list[int], str]]:
    """(label, counts, colour) of each line: the busiest apps, then the rest summed up."""
    ranked = sorted(stats.series.items(), key=lambda item: (-sum(item[1]), item[0]))
    lines = [(stats.names.get(cid) or cid, counts) for cid, counts in ranked[:MAX_LINES]]
    rest = ranked[MAX_LINES:]
    if rest:
        lines.append((others_label, [sum(column) for column in zip(*(c for _, c in rest), strict=True)]))
    return [(label, counts, PALETTE[n % len(PALETTE)]) for n, (label, counts) in enumerate(lines)]


def sign_in_chart(stats: HourlyStats, *, others_label: str, title: str) -> Markup | None:
    """The SVG, or None when there is nothing to draw."""
    if not stats.series or stats.total == 0:
        return None
    series = chart_series(stats, others_label)
    hours = len(stats.hours)
    top = _nice_ceiling(max(max(counts) for _, counts, _ in series))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(index: int) -> float:
        return LEFT + (plot_w * index / (hours - 1) if hours > 1 else plot_w / 2)

    def y(count: int) -> float:
        return TOP + plot_h * (1 - count / top)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for tick in range(5):
        value = top * tick // 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
                     f'stroke="#e2e7ee" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#52606d">{value}</text>')
    every = max(1, hours // 12)
    for index, moment in enumerate(stats.hours):
        if index % every == 0:
            label = moment.strftime("%m-%d" if moment.hour == 0 and hours > 24 else "%H:00")
            parts.append(f'<text x="{x(index):.1f}" y="{HEIGHT - 12}" text-anchor="middle" '
                         f'font-size="11" fill="#52606d">{label}</text>')
    for label, counts, colour in series:
        points = " ".join(f"{x(i):.1f},{y(c):.1f}" for i, c in enumerate(counts))
        name = escape(f"{label}: {sum(counts)}")
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2.5" '
                     f'stroke-linejoin="round" points="{points}"><title>{name}</title></polyline>')
        if hours <= 48:
            for i, c in enumerate(counts):
                if c:
                    parts.append(f'<circle cx="{x(i):.1f}" cy="{y(c):.1f}" r="3" fill="{colour}">'
                                 f'<title>{escape(label)} {stats.hours[i]:%H:00}: {c}</title></circle>')
    parts.append("</svg>")
    legend = "".join(
        f'<li><svg width="14" height="14" aria-hidden="true"><rect width="14" height="14" rx="3" '
        f'fill="{colour}"/></svg> {escape(label)} ({sum(counts)})</li>'
        for label, counts, colour in series)
    return Markup("".join(parts) + f'<ul class="legend">{legend}</ul>')  # noqa: S704 - escaped above
