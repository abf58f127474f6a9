"""The dashboard's charts, as data: each chart's title, series and the table that carries the
same numbers (for screen readers, and for anyone who wants the figures). The browser draws them
with Apache ECharts, vendored under idp/admin/static/echarts and served by campus-idp itself
(/admin/static/echarts.min.js); idp/admin/static/console-charts.js reads the charts from the
page's <script type="application/json"> element, so the pages' Content-Security-Policy
(script-src 'self', no inline script) holds. Without JavaScript the tables still tell it all."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from idp.admin.console_words import GRANTS, OUTCOMES, word
from idp.admin.service_audit import Dashboard, HourlyStats
from idp.web.i18n import Locale

MAX_LINES = 6  # more apps than this are summed up as "other apps"
# distinguishable, and readable by people with the common colour-vision deficiencies (Okabe-Ito)
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999999")
RANGES = (24, 72, 168)  # the time range selector's choices, in hours


@dataclass
class Series:
    name: str
    data: list[int]
    color: str


@dataclass
class Chart:
    id: str
    title: str
    kind: str  # "line" (per hour), "bar" (per category)
    x: list[str]  # the hours, or the categories
    series: list[Series]
    note: str = ""  # a figure beside the title (e.g. sessions alive now)
    stack: bool = False
    columns: list[str] = field(default_factory=list)  # the table's header

    @property
    def total(self) -> int:
        return sum(sum(s.data) for s in self.series)

    def rows(self) -> list[list[str | int]]:
        """The table: one row per hour or category, a column per series."""
        return [[label, *(s.data[n] for s in self.series)] for n, label in enumerate(self.x)]

    def option(self) -> dict[str, Any]:
        """What console-charts.js hands to ECharts (besides its fixed style)."""
        return {"id": self.id, "title": self.title, "kind": self.kind, "x": self.x,
                "stack": self.stack, "series": [asdict(s) for s in self.series]}


def hour_labels(hours: list[datetime]) -> list[str]:
    """"09-01 14:00" (UTC) for every hour: the date too, since a range may cross midnight."""
    return [f"{moment:%m-%d %H:00}" for moment in hours]


def chart_series(stats: HourlyStats, others_label: str) -> list[tuple[str, list[int], str]]:
    """(label, counts, colour) of each line: the busiest apps, then the rest summed up."""
    ranked = sorted(stats.series.items(), key=lambda item: (-sum(item[1]), item[0]))
    lines = [(stats.names.get(cid) or cid, counts) for cid, counts in ranked[:MAX_LINES]]
    rest = ranked[MAX_LINES:]
    if rest:
        lines.append((others_label, [sum(column) for column in zip(*(c for _, c in rest), strict=True)]))
    return [(label, counts, PALETTE[n % len(PALETTE)]) for n, (label, counts) in enumerate(lines)]


def _coloured(named: list[tuple[str, list[int]]]) -> list[Series]:
    return [Series(name, data, PALETTE[n % len(PALETTE)]) for n, (name, data) in enumerate(named)]


def dashboard_charts(board: Dashboard, hours: int, locale: Locale,
                     t: Any) -> list[Chart]:
    """The five charts of the dashboard, in the order shown; `t`: the console's translator."""
    x = hour_labels(board.hours)
    # "24 小时", "7 天": the selector's own words for its ranges
    period = t(f"d_range_{hours}") if hours in RANGES else t("d_hours", hours=hours)
    time_column = t("d_hour")
    sign_ins = [Series(label, counts, colour)
                for label, counts, colour in chart_series(board.sign_ins, t("a_others"))]
    failures = list(board.failures.items())
    charts = [
        Chart("sign-ins", t("a_chart_title", period=period), "line", x, sign_ins,
              columns=[time_column, *(s.name for s in sign_ins)]),
        Chart("failures", t("d_failures", period=period), "bar",
              [word(OUTCOMES, reason, locale) for reason, _ in failures],
              [Series(t("d_failed_sign_ins"), [count for _, count in failures], PALETTE[5])],
              columns=[t("d_reason"), t("d_failed_sign_ins")]),
        Chart("refused", t("d_refused", period=period), "line", x,
              _coloured([(t("d_throttled"), board.refused["throttled"]),
                         (t("d_locked"), board.refused["locked"])]),
              note=t("d_throttled_now", count=board.throttled_now)),
        Chart("tokens", t("d_tokens", period=period), "bar", x,
              _coloured([(word(GRANTS, grant, locale), counts)
                         for grant, counts in board.tokens.items()]), stack=True),
        Chart("sessions", t("d_sessions", period=period), "line", x,
              _coloured([(t("d_sessions_started"), board.sessions["started"]),
                         (t("d_sessions_ended"), board.sessions["ended"])]),
              note=t("d_sessions_active", count=board.active_sessions)),
    ]
    for chart in charts:
        if not chart.columns:
            chart.columns = [time_column, *(s.name for s in chart.series)]
    return charts
