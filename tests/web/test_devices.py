"""device_summary: the few words the QR confirmation page shows about the asking device."""

from __future__ import annotations

import pytest

from idp.web.devices import device_summary

AGENTS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", "Chrome · Windows"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge · Windows"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Safari/605.1.15", "Safari · macOS"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox · Linux"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800323d) NetType/WIFI Language/zh_CN",
     "WeChat · iPhone"),
    ("Mozilla/5.0 (Linux; Android 14; V2307A) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0 Mobile Safari/537.36 wxwork/4.1.22 MicroMessenger/7.0.1", "WeCom · Android"),
    ("Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/116 Mobile Safari/537.36 "
     "AliApp(DingTalk/7.5.0)", "DingTalk · Android"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "HeadlessChrome/131.0.0.0 Safari/537.36", "Chrome · Linux"),
]


@pytest.mark.parametrize(("agent", "summary"), AGENTS)
def test_known_browsers_and_systems(agent: str, summary: str) -> None:
    assert device_summary(agent) == summary


def test_unknown_and_empty() -> None:
    assert device_summary(None) == "?" and device_summary("  ") == "?"
    assert device_summary("campus-kiosk/2.0") == "campus-kiosk/2.0"
    long = "x" * 100
    assert device_summary(long) == "x" * 40 + "…"
