"""`pip install campus-idp` from a built wheel works: the wheel carries the templates, the static
files and the migrations, and `idp migrate` then `idp serve` from it (not from this checkout)
serve the pages."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_built_wheel_holds_everything_and_serves(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("campus_idp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("idp/web/templates/login.html", "idp/web/templates/home.html",
                   "idp/web/static/site.css", "idp/web/static/favicon.svg",
                   "idp/admin/templates/admin_layout.html", "idp/db/migrations/script.py.mako",
                   "idp/db/migrations/env.py", "idp/db/migrations/versions/0001_initial_schema.py",
                   "idp/admin/static/console-charts.js", "idp/admin/static/echarts/echarts.min.js",
                   "idp/admin/static/echarts/LICENSE", "idp/admin/static/echarts/NOTICE"):
        assert needed in names, f"the wheel lacks {needed}"
    assert not any(name.startswith("tests/") for name in names)

    # installed on its own, ahead of this checkout on the path; run from elsewhere
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
         str(wheel)], capture_output=True, text=True, timeout=300, check=False)
    assert installed.returncode == 0, installed.stderr
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(site), "LDAPNOINIT": "1",
           "IDP_DATABASE_URL": f"sqlite:///{run_dir}/idp.db", "IDP_KEYS_DIR": str(run_dir / "keys"),
           "IDP_ISSUER": f"http://127.0.0.1:{port}"}
    env = {k: v for k, v in env.items() if not k.startswith("IDP_") or k in (
        "IDP_DATABASE_URL", "IDP_KEYS_DIR", "IDP_ISSUER")}
    idp = [sys.executable, "-c", "import sys; from idp.cli import main; sys.exit(main())"]
    where = subprocess.run([sys.executable, "-c", "import idp; print(idp.__file__)"], env=env,
                           cwd=run_dir, capture_output=True, text=True, check=True)
    assert where.stdout.strip().startswith(str(site)), where.stdout
    migrated = subprocess.run([*idp, "migrate"], env=env, cwd=run_dir, capture_output=True,
                              text=True, timeout=120, check=False)
    assert migrated.returncode == 0, migrated.stderr
    server = subprocess.Popen([*idp, "serve", "--port", str(port)], env=env, cwd=run_dir,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            try:
                home = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "idp serve from the wheel never answered"
                time.sleep(0.2)
        assert home.status_code == 200 and 'href="/apps/login"' in home.text
        css = httpx.get(f"http://127.0.0.1:{port}/static/site.css", timeout=5)
        assert css.status_code == 200 and "main.card" in css.text
        charts = httpx.get(f"http://127.0.0.1:{port}/admin/static/echarts.min.js", timeout=5)
        assert charts.status_code == 200 and "Apache Software Foundation" in charts.text[:2000]
        discovery = httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration",
                              timeout=5)
        assert discovery.json()["issuer"] == f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)
