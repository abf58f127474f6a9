"""`idp demo`: the IdP on its embedded defaults with the demo people, plus the example campus apps
in clients/ (service hall, OA, data platform, campus API), each registered once as a client.

`prepare_demo` migrates, seeds and registers (idempotently: the ids and secrets are kept in
`<keys dir>/../demo-clients.json` and reused while the clients exist with the same URLs).
`run_demo` is a small supervisor: `idp serve` and one uvicorn per app as child processes; Ctrl-C
(or SIGTERM, or any child dying) stops them all.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from idp.settings import Settings

DEMO_APP_PORT = 9001  # the first of five consecutive ports: hall, OA, data platform, API, academic
DEMO_CLIENTS_FILE = "demo-clients.json"
REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class DemoApp:
    key: str
    title: str
    module: str  # uvicorn import string, relative to the repository root
    offset: int  # port = app_port + offset


APPS = (
    DemoApp("hall", "online service hall", "clients.service_hall.app:app", 0),
    DemoApp("oa", "OA system", "clients.oa.app:app", 1),
    DemoApp("data", "data platform", "clients.data_platform.app:app", 2),
    DemoApp("api", "campus API", "clients.campus_api.app:app", 3),
    DemoApp("academic", "academic affairs system", "clients.academic.app:app", 4),
)
# what the CAS app may be told: who the person is, their number, department and groups
ACADEMIC_ATTRIBUTES = ["uid", "cn", "mail", "employeeNumber", "ou", "memberOf",
                       "eduPersonAffiliation"]


@dataclass
class DemoPlan:
    lines: list[str]
    urls: dict[str, str]  # app key -> base URL
    clients: dict[str, dict[str, str | None]]  # app key -> client_id, client_secret, url
    env: dict[str, dict[str, str]] = field(default_factory=dict)  # app key -> its settings


def app_urls(settings: Settings, app_port: int) -> dict[str, str]:
    """The apps live on the issuer's host name (localhost for the demo), so every cookie of the
    demo is on one site and a browser sees the same host everywhere."""
    host = urlsplit(settings.issuer).hostname or "localhost"
    if host not in ("localhost", "127.0.0.1", "::1"):
        host = "localhost"
    return {app.key: f"http://{host}:{app_port + app.offset}" for app in APPS}


# each demo app's one line in the app portal at /
DEMO_CARDS = {
    "hall": "报修、报销、证明开具与缴费 · Repairs, reimbursements, certificates",
    "oa": "公文与审批流程 · Documents and approvals",
    "data": "校园数据查询 · Campus data",
    "academic": "选课、成绩与课表 · Courses, grades, timetable",
}


async def _register(db: object, urls: dict[str, str], known: dict[str, dict]) -> dict[str, dict]:
    from idp.protocols.oidc.clients import create_client
    from idp.sso.apps import get_client

    wanted = {
        "hall": dict(name="网上服务大厅 Online Service Hall (demo)",
                     redirect_uris=[f"{urls['hall']}/callback"],
                     post_logout_redirect_uris=[f"{urls['hall']}/"],
                     backchannel_logout_uri=f"{urls['hall']}/backchannel-logout"),
        "oa": dict(name="OA 办公系统 OA System (demo)", redirect_uris=[f"{urls['oa']}/callback"],
                   post_logout_redirect_uris=[f"{urls['oa']}/"],
                   backchannel_logout_uri=f"{urls['oa']}/backchannel-logout"),
        "data": dict(name="数据平台 Data Platform (demo)", public=True,
                     redirect_uris=[f"{urls['data']}/callback"],
                     post_logout_redirect_uris=[f"{urls['data']}/"]),
    }
    clients: dict[str, dict] = {}
    record = known.get("academic")
    if (record and record.get("url") == urls["academic"]
            and await get_client(db, record["client_id"]) is not None):  # type: ignore[arg-type]
        clients["academic"] = record
    else:
        from idp.protocols.cas.registry import create_service

        service = await create_service(  # type: ignore[arg-type]
            db, name="教务系统 Academic Affairs (demo, CAS)",
            services=[f"{urls['academic']}/cas/callback"],
            slo_url=f"{urls['academic']}/cas/slo", attributes=ACADEMIC_ATTRIBUTES)
        clients["academic"] = {"client_id": service.client_id, "client_secret": None,
                               "url": urls["academic"]}
    for key, metadata in wanted.items():
        record = known.get(key)
        if (record and record.get("url") == urls[key]
                and await get_client(db, record["client_id"]) is not None):  # type: ignore[arg-type]
            clients[key] = record
            continue
        # first-party campus apps: the university consents for them (skip_consent)
        client, secret = await create_client(db, skip_consent=True, **metadata)  # type: ignore[arg-type]
        clients[key] = {"client_id": client.client_id, "client_secret": secret, "url": urls[key]}
    from idp.admin.service_clients import set_card

    for key, description in DEMO_CARDS.items():  # the app portal at / links to each app
        await set_card(db, clients[key]["client_id"],  # type: ignore[arg-type]
                       {"client_uri": f"{urls[key]}/", "description": description})
    return clients


async def prepare_demo(settings: Settings, *, app_port: int = DEMO_APP_PORT) -> DemoPlan:
    """Migrate, seed the demo people (local directory) and register the demo apps once."""
    from directory.demo_people import DEMO_PEOPLE, seed_local
    from directory.factory import open_directory
    from idp.db.engine import close_engine, open_engine, sessionmaker
    from idp.db.migrate import upgrade

    await upgrade(settings.database_url)
    engine = open_engine(settings.database_url)
    directory = open_directory(settings.directory, settings.ldap, engine,
                               links=settings.identities)
    urls = app_urls(settings, app_port)
    record = Path(settings.keys_dir).parent / DEMO_CLIENTS_FILE
    try:
        if settings.directory == "local":
            await seed_local(directory)  # type: ignore[arg-type]
        known = json.loads(record.read_text()) if record.exists() else {}
        clients = await _register(sessionmaker(engine), urls, known)
    finally:
        await directory.close()
        await close_engine(engine)
    if clients != known:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(clients, indent=2))
        record.chmod(0o600)  # holds client secrets

    plan = DemoPlan(lines=[], urls=urls, clients=clients, env=_app_env(settings, urls, clients))
    issuer = settings.issuer
    plan.lines = [
        "",
        "  campus-idp demo",
        f"    identity provider    {issuer}   (discovery: {issuer}/.well-known/openid-configuration)",
        f"    online service hall  {urls['hall']}   client_id={clients['hall']['client_id']}",
        f"    OA system            {urls['oa']}   client_id={clients['oa']['client_id']}"
        "   (back-channel logout)",
        f"    data platform        {urls['data']}   client_id={clients['data']['client_id']}"
        "   (single-page app, public client + PKCE)",
        f"    campus API           {urls['api']}   (checks access tokens offline)",
        f"    academic affairs     {urls['academic']}   (a CAS 3.0 service)",
        "",
        "  demo people (username / password):",
    ]
    if settings.directory == "local":
        for person in DEMO_PEOPLE:
            plan.lines.append(f"    {person.username:<10} {person.password:<14} {person.name}")
    else:
        plan.lines.append("    (people come from your LDAP directory)")
    plan.lines += [
        "",
        f"  Try it: open {settings.issuer}/ (我的应用), sign in as student / student123: a card",
        "  for each app, each opening it without a password. Or start at the service hall",
        f"  ({urls['hall']}), follow its links to OA and the academic affairs system (CAS),",
        "  open the data platform, sign out there: every app is signed out.",
        "",
    ]
    return plan


def _app_env(settings: Settings, urls: dict[str, str], clients: dict[str, dict]) -> dict[str, dict[str, str]]:
    issuer = settings.issuer
    return {
        "hall": {"HALL_ISSUER": issuer, "HALL_CLIENT_ID": clients["hall"]["client_id"],
                 "HALL_CLIENT_SECRET": clients["hall"]["client_secret"] or "",
                 "HALL_BASE_URL": urls["hall"], "HALL_OA_URL": urls["oa"],
                 "HALL_DATA_URL": urls["data"], "HALL_ACADEMIC_URL": urls["academic"],
                 "HALL_SESSION_SECRET": secrets.token_urlsafe(32)},
        "oa": {"OA_ISSUER": issuer, "OA_CLIENT_ID": clients["oa"]["client_id"],
               "OA_CLIENT_SECRET": clients["oa"]["client_secret"] or "",
               "OA_BASE_URL": urls["oa"], "OA_HALL_URL": urls["hall"], "OA_DATA_URL": urls["data"],
               "OA_SESSION_SECRET": secrets.token_urlsafe(32)},
        "data": {"DATA_ISSUER": issuer, "DATA_CLIENT_ID": clients["data"]["client_id"],
                 "DATA_BASE_URL": urls["data"], "DATA_API_URL": urls["api"],
                 "DATA_HALL_URL": urls["hall"], "DATA_OA_URL": urls["oa"]},
        "api": {"API_ISSUER": issuer, "API_AUDIENCE": urls["api"],
                "API_CORS_ORIGINS": urls["data"]},
        "academic": {"ACADEMIC_CAS_SERVER": f"{issuer}/cas/", "ACADEMIC_BASE_URL": urls["academic"],
                     "ACADEMIC_HALL_URL": urls["hall"], "ACADEMIC_OA_URL": urls["oa"]},
    }


# --- the supervisor --------------------------------------------------------------------------

def _die_with_parent() -> None:
    """Linux: a child gets SIGTERM when the demo process dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, env={**os.environ, **env}, cwd=REPO_ROOT,  # noqa: S603
                            preexec_fn=_die_with_parent)  # noqa: PLW1509


def _wait_until_up(urls: list[str], children: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    pending = list(urls)
    while pending:
        if any(child.poll() is not None for child in children):
            raise RuntimeError("a demo process exited while starting (see its output above)")
        if time.monotonic() > deadline:
            raise RuntimeError(f"not answering after {START_TIMEOUT:.0f} s: {', '.join(pending)}")
        try:
            if httpx.get(pending[0], timeout=1.0).status_code == 200:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.2)


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 10
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def run_demo(settings: Settings, plan: DemoPlan, *, host: str, port: int, with_apps: bool = True,
             config_file: Path | None = None) -> int:
    """Serve the IdP and the apps until Ctrl-C / SIGTERM; returns the exit status."""
    idp_env = {"IDP_ISSUER": settings.issuer, "IDP_DATABASE_URL": settings.database_url,
               "IDP_KEYS_DIR": str(Path(settings.keys_dir).resolve()),
               # a person reads this terminal: short lines, not JSON (unless asked otherwise)
               "IDP_LOG_FORMAT": os.environ.get("IDP_LOG_FORMAT", "text")}
    if config_file is not None:
        idp_env["IDP_CONFIG"] = str(Path(config_file).resolve())
    argv = [sys.executable, "-c", "from idp.cli.main import main; main()", "serve", "--host", host,
            "--port", str(port)]
    children = [_spawn(argv, idp_env)]
    health = [f"http://{_connect_host(host)}:{port}/healthz"]
    if with_apps and not (REPO_ROOT / "clients" / "service_hall" / "app.py").exists():
        print("  (the example apps live in the source tree's clients/, not found: IdP only)")
        with_apps = False
    if with_apps:
        for app in APPS:
            app_port = urlsplit(plan.urls[app.key]).port
            children.append(_spawn([sys.executable, "-m", "uvicorn", app.module, "--host", host,
                                    "--port", str(app_port), "--log-level", "warning",
                                    "--no-access-log"], plan.env[app.key]))
            health.append(f"http://{_connect_host(host)}:{app_port}/healthz")

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # set both: a shell that starts us in the background hands SIGINT down as "ignored"
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _wait_until_up(health, children)
        # the banner last, so that it is what the terminal shows once everything answers
        print("\n".join(plan.lines), flush=True)
        print("  everything is up; Ctrl-C stops it all.", flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("  a demo process exited; stopping the others.", flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:
        print(f"  error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        for sig in previous:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        _stop(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _connect_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104
