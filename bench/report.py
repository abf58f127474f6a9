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


def rows(results: dict[str, Any]) -> list[list[str]]:
    table = []
    for case in results["cases"]:
        ours, peer = case.get("campus_idp"), case.get("peer")
        ratio = (ours["units_per_second"] / peer["units_per_second"]
                 if ours and peer and peer["units_per_second"] else None)
        errors = [str(side["errors"]) if side else "–" for side in (ours, peer)]
        table.append([
            case["label"], case["unit"],
            _fmt(ours and ours["units_per_second"]), _fmt(peer and peer["units_per_second"]),
            f"{ratio:.2f}×" if ratio is not None else "–",
            f"{_fmt(ours and ours['latency_ms']['p50'], 1)} / {_fmt(ours and ours['latency_ms']['p99'], 1)}",
            f"{_fmt(peer and peer['latency_ms']['p50'], 1)} / {_fmt(peer and peer['latency_ms']['p99'], 1)}",
            " / ".join(errors),
        ])
    return table


HEADER = ["case", "unit", "campus-idp /s", "peer /s", "ratio", "campus-idp p50/p99 ms",
          "peer p50/p99 ms", "errors (idp / peer)"]


def text_table(results: dict[str, Any]) -> str:
    body = [HEADER, *rows(results)]
    widths = [max(len(row[i]) for row in body) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(results: dict[str, Any]) -> str:
    body = rows(results)
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


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
    """The campus-idp-only results under the table: logins, CAS, replicas, scale."""
    lines = []
    login = results.get("logins")
    if login:
        lines.append(f"\npassword logins through the login form (slapd, {results['settings']['people']:,} "
                     f"people): {login['units_per_second']:,.0f}/s = {login['per_core']}/s per core, "
                     f"p50/p99 {login['latency_ms']['p50']}/{login['latency_ms']['p99']} ms per "
                     f"request, errors {login['errors']}")
    cas = results.get("cas")
    if cas:
        lines.append(f"\nCAS 3.0 sign-ins with an SSO session (a ticket from /cas/login, then "
                     f"p3/serviceValidate): {cas['units_per_second']:,.0f}/s = "
                     f"{cas['per_core']}/s per core, p50/p99 {cas['latency_ms']['p50']}/"
                     f"{cas['latency_ms']['p99']} ms per request, errors {cas['errors']}")
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
