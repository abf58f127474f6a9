"""The results: one JSON file per run in bench/results/, and the side-by-side table (plain text
for the terminal, Markdown for the README)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    node_bin = shutil.which("node")
    node = subprocess.run([node_bin, "--version"], capture_output=True, text=True,  # noqa: S603
                          check=False) if node_bin else None
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version(), "node": node.stdout.strip() if node else None,
            "load_average": list(os.getloadavg())}


def _fmt(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _latency(side: dict[str, Any] | None) -> str:
    if not side:
        return "–"
    return f"{_fmt(side['latency_ms']['p50'], 1)} / {_fmt(side['latency_ms']['p99'], 1)}"


def _busy_note(sides: list[dict[str, Any] | None]) -> str:
    shares = [side.get("outside_percent_max", side.get("machine", {}).get("outside_percent", 0.0))
              for side in sides if side and (side.get("busy") or side.get("machine", {}).get("busy"))]
    return f"busy: {max(shares):.0f}% CPU outside the bench" if shares else ""


def _ratio(case: dict[str, Any]) -> str:
    ratio = case.get("ratio")
    if not ratio:
        return "–"
    if ratio["min"] == ratio["max"]:
        return f"{ratio['median']:.2f}×"
    return f"{ratio['median']:.2f}× ({ratio['min']:.2f}–{ratio['max']:.2f})"


# campus-idp-only results shown as rows of the table: (key in the results, label, unit)
ONLY_IDP = (
    ("logins", "password logins (login form, slapd)", "logins"),
    ("ldap_ceiling", "slapd ceiling: a login's LDAP work, no HTTP", "logins"),
    ("cas", "CAS 3.0: ticket + p3/serviceValidate", "tickets"),
    ("device_polling", "device grant: polls answered authorization_pending", "polls"),
    ("qr", "QR sign-in: approval → waiting PC notified", "approvals"),
)


def _only_label(key: str, label: str, data: dict[str, Any]) -> str:
    if key == "qr":
        return f"{label} ({data['waiting']:,} PCs waiting, {data['workers']} worker)"
    if key == "device_polling":
        return f"{label} ({data['device_codes']:,} codes)"
    return label


def rows(results: dict[str, Any]) -> list[list[str]]:
    table = []
    for case in results["cases"]:
        ours, peer = case.get("campus_idp"), case.get("peer")
        errors = [str(side["errors"]) if side else "–" for side in (ours, peer)]
        table.append([
            case["label"], case["unit"],
            _fmt(ours and ours["units_per_second"]), _fmt(peer and peer["units_per_second"]),
            _ratio(case),
            _fmt(ours and ours["units_per_second"] / (results["machine"]["cores"] or 1), 1),
            _latency(ours), _latency(peer), " / ".join(errors), _busy_note([ours, peer]),
        ])
    for key, label, unit in ONLY_IDP:
        for data in _entries(results, key):
            table.append([_only_label(key, label, data), unit, _fmt(data["units_per_second"]),
                          "—", "—", _fmt(data.get("per_core"), 1), _latency(data), "—",
                          f"{data['errors']} / —", _busy_note([data])])
    return table


def _entries(results: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """A campus-idp-only result: one measurement, or several (QR: one per number waiting)."""
    found = results.get(key)
    if not found:
        return []
    return found if isinstance(found, list) else [found]


HEADER = ["case", "unit", "campus-idp /s", "peer /s", "ratio (range)", "campus-idp /s per core",
          "campus-idp p50/p99 ms", "peer p50/p99 ms", "errors (idp / peer)", "machine"]


def text_table(results: dict[str, Any]) -> str:
    body = [HEADER, *rows(results)]
    widths = [max(len(row[i]) for row in body) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
             for row in body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(results: dict[str, Any]) -> str:
    body = rows(results)
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def error_count(results: dict[str, Any]) -> int:
    """Every error of the side-by-side cases and of the campus-idp-only rows."""
    return sum(side["errors"] for case in results["cases"]
               for side in (case["campus_idp"], case["peer"])) \
        + sum(data["errors"] for key, _, _ in ONLY_IDP for data in _entries(results, key))


def write(results: dict[str, Any], name: str, *, latest: bool = True) -> Path:
    """Write the run; `latest` also replaces latest.json and latest.md (not for a prototype)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if not latest:
        return path
    (RESULTS / "latest.json").write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (RESULTS / "latest.md").write_text(markdown_table(results) + "\n", encoding="utf-8")
    return path


def summary(results: dict[str, Any]) -> str:
    """Under the table: the machine's verdict, the rounds, and what the campus-idp-only rows
    stand for (logins and their ceiling, CAS, device polling, QR), then replicas and scale."""
    lines = []
    quiet = results.get("quiet")
    if quiet:
        before = quiet["before"]
        state = "BUSY" if quiet["busy"] else "quiet"
        lines.append(f"\nmachine {state}: before the run {before['busy_percent']}% busy "
                     f"({before['steal_percent']}% steal, load average {before['load_average']}); "
                     f"{quiet['busy_runs']} of {quiet['measured_runs']} measured runs above "
                     f"{quiet['threshold_percent']:.0f}% CPU outside the bench (max "
                     f"{quiet['outside_percent_max']}%) or {quiet['steal_threshold_percent']:.0f}% "
                     f"steal (max {quiet['steal_percent_max']}%)")
    settings = results["settings"]
    if results.get("cases"):
        lines.append(f"side by side: {settings.get('rounds', 1)} interleaved rounds per case "
                     f"({settings['warmup']:g} s warm-up first, {settings.get('rewarm', 0):g} s "
                     f"later, {settings['duration']:g} s measured); rates and latencies are the "
                     "rounds' medians, the ratio the median of the per-round ratios (range)")
    login = results.get("logins")
    if login:
        lines.append(f"\npassword logins through the login form (slapd, {settings['people']:,} "
                     f"people): {login['units_per_second']:,.0f}/s = {login['per_core']}/s per core, "
                     f"p50/p99 {login['latency_ms']['p50']}/{login['latency_ms']['p99']} ms per "
                     f"request, errors {login['errors']}")
    ceiling = results.get("ldap_ceiling")
    if ceiling:
        lines.append(f"  slapd's ceiling (a login's LDAP work from {ceiling['processes']} processes, "
                     f"{ceiling['in_flight']} in flight, no HTTP): {ceiling['units_per_second']:,.0f}"
                     f"/s = {ceiling['per_core']}/s per core, p50/p99 {ceiling['latency_ms']['p50']}"
                     f"/{ceiling['latency_ms']['p99']} ms per login; slapd "
                     f"{ceiling['slapd_cpu_us_per_login']} µs of CPU per login "
                     f"(= {ceiling.get('slapd_logins_per_core_second', '–')} per slapd core-second)")
    cas = results.get("cas")
    if cas:
        lines.append(f"\nCAS 3.0 sign-ins with an SSO session (a ticket from /cas/login, then "
                     f"p3/serviceValidate): {cas['units_per_second']:,.0f}/s = "
                     f"{cas['per_core']}/s per core, p50/p99 {cas['latency_ms']['p50']}/"
                     f"{cas['latency_ms']['p99']} ms per request, errors {cas['errors']}")
    device = results.get("device_polling")
    if device:
        waiting = device["units_per_second"] * 5 / (results["machine"]["cores"] or 1)
        lines.append(f"\ndevice sign-in: {device['units_per_second']:,.0f} authorization_pending "
                     f"answers/s = {device['per_core']}/s per core: at the default 5 s interval, "
                     f"one core keeps about {waiting:,.0f} waiting devices polling")
    for found in _entries(results, "qr"):
        per_pc = found["redis_connections_added"] / max(found["held"], 1)
        lines.append(f"\nQR sign-in, {found['waiting']:,} PCs waiting on 1 worker: {found['held']:,} "
                     f"held; while they only wait, the worker uses {found['idle_worker_core_percent']}"
                     f"% of a core ({found['idle_worker_us_per_pc_second']} µs/s per PC), Redis "
                     f"{found['idle_redis_core_percent']}%, {found['worker_rss_kib_per_pc']} KiB of "
                     f"the worker's memory and {per_pc:.2f} "
                     f"Redis connections per PC; {found['approvals']} approvals: PC notified p50/p99 "
                     f"{found['latency_ms']['p50']}/{found['latency_ms']['p99']} ms, errors "
                     f"{found['errors']}" + (f" (first: {found['failed_polls'][0]})"
                                             if found["failed_polls"] else ""))
    chosen = results.get("servers")
    if chosen:
        lines.append("\nASGI server (campus-idp, same workers and logging): uvicorn with httptools "
                     "and uvloop (idp serve) vs granian, ratio granian/uvicorn:")
        for data in chosen.values():
            lines.append(f"  {data['label']}: uvicorn {data['uvicorn']['units_per_second']:,.0f}/s, "
                         f"granian {data['granian']['units_per_second']:,.0f}/s, "
                         f"ratio {data['ratio']}×")
    reps = results.get("replicas")
    if reps:
        lines.append(f"\nreplicas ({reps['workers_per_replica']} worker each):")
        for name, data in reps.items():
            if isinstance(data, dict):
                lines.append(f"  {name}: one {data['one_per_second']:,.0f}/s, two "
                             f"{data['two_per_second']:,.0f}/s, ratio {data['ratio']}×")
    purged = results.get("purge_load")
    if purged:
        from bench.purge_load import markdown

        lines.append("\npassword logins without / with a retention purge running (interleaved "
                     "pairs, bench/README.md):\n" + markdown(purged))
    scaled = results.get("scale")
    if scaled:
        lines.append("\nscale (p50 ms, one request at a time):")
        keys = ["login_post_ms", "users_show_command_ms", "find_ms", "authenticate_ms",
                "admin_search_first_page_ms", "admin_search_page_20_ms", "admin_search_query_ms"]
        sizes = list(scaled)
        lines.append("  " + "metric".ljust(28) + "".join(f"{s + ' people':>18}" for s in sizes)
                     + "   ratio")
        for key in keys:
            values = [scaled[s][key]["p50"] for s in sizes]
            ratio = values[-1] / values[0] if values[0] else 0
            lines.append("  " + key.ljust(28) + "".join(f"{v:>18.2f}" for v in values)
                         + f"   {ratio:.2f}×")
    return "\n".join(lines)
