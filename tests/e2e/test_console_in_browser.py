"""The admin console's dashboard in a real browser: every chart drawn by the vendored Apache
ECharts under the pages' strict Content-Security-Policy (no violation, no script error), each
legend label beside its colour, and the range selector; screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, Page

from tests.e2e.stack import DemoStack
from tests.e2e.test_single_sign_on import click_and_land, log_in_at_idp

CHARTS = ("sign-ins", "failures", "refused", "tokens", "sessions")
DESKTOP = {"viewport": {"width": 1280, "height": 900}}

# each legend entry of a chart: its label, and the distance from its colour square to the label
LEGEND = """(box) => {
  const svg = box.querySelector('svg');
  const texts = [...svg.querySelectorAll('text')];
  const swatches = [...svg.querySelectorAll('path')].filter(p => {
    const r = p.getBoundingClientRect();
    return Math.abs(r.width - 14) < 1.5 && Math.abs(r.height - 14) < 1.5;
  });
  return swatches.map(s => {
    const r = s.getBoundingClientRect();
    const middle = (b) => (b.top + b.bottom) / 2;
    const label = texts.map(t => ({t, b: t.getBoundingClientRect()}))
      .filter(x => x.b.left >= r.right - 1 && Math.abs(middle(x.b) - middle(r)) < 8)
      .sort((a, b) => a.b.left - b.b.left)[0];
    return {fill: s.getAttribute('fill'), label: label ? label.t.textContent : null,
            gap: label ? label.b.left - r.right : null};
  });
}"""


def sign_in_to_console(page: Page, demo: DemoStack) -> None:
    page.goto(demo.issuer + "/admin")
    page.wait_for_url("**/login/**")
    with page.expect_navigation(url=demo.issuer + "/admin"):
        log_in_at_idp(page, "itadmin", "itadmin123")


def some_activity(demo: DemoStack, new_context: Callable[..., BrowserContext]) -> None:
    """A student signs into the service hall; somebody mistypes a password."""
    page = new_context().new_page()
    page.goto(demo.hall)
    click_and_land(page, "#login", "**/login/**")
    log_in_at_idp(page, "teacher", "wrong-password")
    page.wait_for_selector(".message.error, [role=alert]")
    with page.expect_navigation(url=demo.hall + "/"):
        log_in_at_idp(page)


def test_dashboard_charts_render(demo: DemoStack, new_context: Callable[..., BrowserContext],
                                 artifacts: Path) -> None:
    some_activity(demo, new_context)
    page = new_context(**DESKTOP).new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    sign_in_to_console(page, demo)

    for chart in CHARTS:
        box = page.locator(f'.echart[data-chart="{chart}"]')
        box.wait_for()
        page.wait_for_selector(f'.echart[data-chart="{chart}"][data-rendered="true"] svg')
        handle = box.element_handle()
        assert handle is not None
        legend = page.evaluate(LEGEND, handle)
        names = page.evaluate(
            "(id) => JSON.parse(document.getElementById('console-charts').textContent)"
            ".find(c => c.id === id).series.map(s => [s.name, s.color])", chart)
        assert names, f"{chart}: no series"
        for name, colour in names:
            [entry] = [e for e in legend if e["label"] == name]
            assert entry["fill"].lower() == colour.lower(), (chart, entry)
            assert 0 <= entry["gap"] <= 12, (chart, entry)  # the label sits beside its square
        # its data table holds the same series
        header = page.locator(f"#chart-{chart} details thead").text_content() or ""
        assert all(name in header for name, _ in names)

    def drawn_text(chart: str) -> str:
        return page.locator(f'.echart[data-chart="{chart}"] svg').text_content() or ""

    assert "网上服务大厅" in drawn_text("sign-ins")
    failures = drawn_text("failures")
    assert "用户名或密码错误" in failures
    # the y axis of a small count reads 0, 1, ... (never "0" repeated)
    for chart in CHARTS:
        ticks = page.evaluate("""(id) => [...document.querySelectorAll(
            `.echart[data-chart="${id}"] svg text`)].map(t => t.textContent)
            .filter(t => /^\\d+$/.test(t))""", chart)
        assert ticks.count("0") == 1 and len(ticks) == len(set(ticks)), (chart, ticks)
    # a tooltip (drawn inside the chart: an HTML one would need inline styles the CSP refuses)
    tokens = page.locator('.echart[data-chart="tokens"]')
    tokens.scroll_into_view_if_needed()
    box = tokens.bounding_box()
    assert box is not None
    before = drawn_text("tokens").count("授权码")
    page.mouse.move(box["x"] + box["width"] - 30, box["y"] + box["height"] / 3)
    page.wait_for_function(
        """(n) => document.querySelector('.echart[data-chart="tokens"] svg')
                   .textContent.split('授权码').length - 1 > n""", arg=before)
    page.screenshot(path=artifacts / "console-tooltip-zh.png")
    assert not problems, problems  # no CSP violation, no script error
    page.screenshot(path=artifacts / "console-dashboard-zh.png", full_page=True)

    page.locator("#chart-sign-ins details summary").click()
    assert page.locator("#chart-sign-ins details table").is_visible()
    with page.expect_navigation():
        page.click('nav.range a[href="/admin?hours=168"]')
    assert page.get_attribute('nav.range a[aria-current="page"]', "href") == "/admin?hours=168"
    page.wait_for_selector('.echart[data-chart="tokens"][data-rendered="true"] svg')
    page.goto(demo.issuer + "/admin?hours=168&ui_locales=en")
    page.wait_for_selector('.echart[data-chart="sessions"][data-rendered="true"] svg')
    assert "Started" in drawn_text("sessions")
    assert "(last 7 days)" in page.inner_text("#chart-sessions h2")
    page.screenshot(path=artifacts / "console-dashboard-en-7d.png", full_page=True)
    assert not problems, problems


def test_audit_log_and_apps_in_the_console_language(
        demo: DemoStack, new_context: Callable[..., BrowserContext], artifacts: Path) -> None:
    some_activity(demo, new_context)
    page = new_context(**DESKTOP).new_page()
    sign_in_to_console(page, demo)
    page.goto(demo.issuer + "/admin/audit?kind=token")
    table = page.locator("table.audit tbody")
    first = table.locator("tr").first
    assert first.locator("td").nth(1).inner_text() == "令牌"
    assert first.locator("td").nth(2).inner_text() == "成功"
    assert "student" in table.inner_text()  # the token's subject, named by username
    assert "授权方式" in first.locator("dl.fields").inner_text()
    assert '{"' not in table.inner_text()
    page.goto(demo.issuer + "/admin/audit")
    page.screenshot(path=artifacts / "console-audit-zh.png", full_page=True)

    page.goto(demo.issuer + "/admin/clients")
    assert page.locator('nav.range a[aria-current="page"]').inner_text() == "全部"
    rows = page.locator("table.list tbody tr")
    assert rows.count() >= 4
    hall = rows.filter(has_text="网上服务大厅")
    assert "命令行" in hall.inner_text()  # the demo's apps are registered as `idp clients add` does
    console_app = rows.filter(has_text="campus-idp-admin")
    assert console_app.locator("td").nth(2).inner_text() == "内置"  # campus-idp's own
    page.screenshot(path=artifacts / "console-apps-zh.png", full_page=True)
