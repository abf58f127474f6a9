"""`python -m bench.profile CASE [CASE…]`: where campus-idp spends a case's time.

Starts the same stack as bench/run.py with one `idp serve` worker (uvicorn then serves in the
`idp serve` process itself), loads it with the case's wrk script, and records it with py-spy:
folded stacks (`--format raw`, for speedscope or flamegraph.pl) in
bench/results/profile-<case>.folded, and prints the top functions by own time and, with
--needle, the inclusive share of any frame. Needs py-spy (`.venv/bin/pip install py-spy`) and root or
ptrace rights.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

from bench.cases import CASES
from bench.report import RESULTS
from bench.run import login_load, target_for
from bench.setup import register_idp_clients
from bench.slapd import start_directory
from bench.stack import Backends, delete_redis_prefix, start_idp, use_idp_root
from bench.wrk import run_wrk
from tests.support.databases import create_postgres_database, drop_postgres_database


def _lines(folded: Path) -> list[str]:
    """The folded file's lines, split at newlines only, as py-spy writes them: reading it as
    text would also break lines at a carriage return that a frame's text may hold."""
    return [line for line in folded.read_bytes().decode(errors="replace").split("\n") if line]


def top_frames(folded: Path, limit: int = 25) -> list[tuple[str, float]]:
    """Own time per function (the leaf of each folded stack), as shares of all samples."""
    own: Counter[str] = Counter()
    total = 0
    for line in _lines(folded):
        stack, _, count = line.rpartition(" ")
        leaf = stack.split(";")[-1]
        own[leaf] += int(count)
        total += int(count)
    return [(frame, 100.0 * n / total) for frame, n in own.most_common(limit)] if total else []


def inclusive(folded: Path, needles: list[str]) -> dict[str, float]:
    """Share of samples whose stack passes through a frame containing each needle."""
    hits: Counter[str] = Counter()
    total = 0
    for line in _lines(folded):
        stack, _, count = line.rpartition(" ")
        total += int(count)
        for needle in needles:
            if needle in stack:
                hits[needle] += int(count)
    return {needle: round(100.0 * hits[needle] / total, 1) for needle in needles} if total else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("cases", nargs="+", choices=[c.name for c in CASES] + ["login"],
                        help="a case of bench/cases.py, or login (password logins via the form)")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--gil", action="store_true",
                        help="only samples of the thread holding the GIL: Python's own CPU, "
                             "without the waits (LDAP replies, idle pool threads, the loop's "
                             "poll) that py-spy otherwise counts as time")
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--needle", action="append", default=[],
                        help="report the inclusive share of frames containing this text")
    parser.add_argument("--idp-root", type=Path, default=None,
                        help="profile campus-idp from this checkout (a copy with a change)")
    args = parser.parse_args(argv)
    if args.idp_root is not None:
        use_idp_root(args.idp_root)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    RESULTS.mkdir(exist_ok=True)
    slapd, _ = start_directory(args.people)
    database_url = asyncio.run(create_postgres_database())
    keys_dir = Path(tempfile.mkdtemp(prefix="idp-bench-keys-"))
    backends = Backends(slapd, database_url, keys_dir)
    server = start_idp(backends, "profiled", 1, RESULTS)
    try:
        clients = register_idp_clients(server)
        target = target_for(server, clients, args.connections)
        chosen = [(c.name, c.load) for c in CASES if c.name in args.cases]
        if "login" in args.cases:
            chosen.append(("login", lambda t: login_load(t, args.people)))
        for name, make_load in chosen:
            run_wrk(make_load(target), 5)  # warm
            folded = RESULTS / f"profile-{name}.folded"
            load = make_load(target)
            command = [py_spy, "record", "--pid", str(server.process.pid), "--duration",
                       str(args.seconds), "--rate", "250", "--nonblocking", "--format", "raw",
                       "--output", str(folded), "--subprocesses", *(["--gil"] if args.gil else [])]
            recorder = threading.Thread(target=subprocess.run, args=(command,),
                                        kwargs={"capture_output": True, "check": False})
            recorder.start()
            measured = run_wrk(load, args.seconds)
            recorder.join()
            print(f"\n== {name}: {measured.units_per_second:,.0f}/s with 1 worker "
                  f"(errors {measured.error_count})")
            for frame, share in top_frames(folded):
                print(f"  {share:5.1f}%  {frame}")
            if args.needle:
                print("  inclusive:", inclusive(folded, args.needle))
            print(f"  folded stacks: {folded} (speedscope or flamegraph.pl render them)")
    finally:
        server.stop()
        slapd.stop()
        delete_redis_prefix(backends.redis_prefix)
        asyncio.run(drop_postgres_database(database_url))
        shutil.rmtree(keys_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
