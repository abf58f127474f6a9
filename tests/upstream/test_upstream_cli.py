"""`idp users bind-upstream PROVIDER FILE`: the bulk binding from the command line (the same
service as the admin API: checked whole, nothing written on any problem, audited)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from idp.app import close_services, open_services
from idp.db.upstream_models import UpstreamBinding
from idp.settings import load_settings
from tests.cli.conftest import Runner, idp_env, run_idp  # noqa: F401  (fixtures)

PROVIDER = {"IDP_UPSTREAM_PROVIDERS": "wecom", "IDP_UPSTREAM_WECOM_KIND": "wecom",
            "IDP_UPSTREAM_WECOM_CLIENT_ID": "ww0123", "IDP_UPSTREAM_WECOM_CLIENT_SECRET": "s",
            "IDP_UPSTREAM_WECOM_AGENT_ID": "1000002"}


def bindings(env: dict[str, str]) -> list[tuple[str, str]]:
    async def read() -> list[tuple[str, str]]:
        services = await open_services(load_settings(database_url=env["IDP_DATABASE_URL"],
                                                      keys_dir=env["IDP_KEYS_DIR"]))
        try:
            async with services.db() as db:
                rows = await db.scalars(select(UpstreamBinding))
                return sorted((row.username, row.external_id) for row in rows)
        finally:
            await close_services(services)

    return asyncio.run(read())


def test_bind_upstream_from_a_csv(run_idp: Runner, idp_env: dict[str, str],  # noqa: F811
                                  tmp_path: Path) -> None:
    run_idp("demo", "--no-serve", env=PROVIDER, check=True)  # the demo people
    bad = tmp_path / "bad.csv"
    bad.write_text("number,userid\nstudent,zhangsan\nnobody-xyz,lisi\n", encoding="utf-8")
    refused = run_idp("users", "bind-upstream", "wecom", str(bad), env=PROVIDER)
    assert refused.returncode != 0 and "line 3" in refused.stderr
    good = tmp_path / "staff.csv"
    good.write_text("number,userid\nstudent,zhangsan\n", encoding="utf-8")
    done = run_idp("users", "bind-upstream", "wecom", str(good), env=PROVIDER)
    assert done.returncode == 0, done.stderr
    assert "bound 1, unchanged 0" in done.stdout
    assert bindings(idp_env) == [("student", "zhangsan")]
    unknown = run_idp("users", "bind-upstream", "dingtalk", str(good), env=PROVIDER)
    assert unknown.returncode != 0 and "dingtalk" in unknown.stderr
