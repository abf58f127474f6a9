"""A User-Agent in a few words ("Chrome · Windows", "WeChat · iPhone"), for a person deciding
whether a sign-in on another screen is theirs.

A short, ordered list of markers rather than a UA database: the answer only has to be
recognisable, and an unknown browser says so instead of guessing. Order matters: in-app browsers
(WeChat, WeCom, DingTalk) and Edge/Opera carry "Chrome" and "Safari" in their strings too.
"""

from __future__ import annotations

BROWSERS: tuple[tuple[str, str], ...] = (
    ("wxwork/", "WeCom"), ("micromessenger/", "WeChat"), ("dingtalk", "DingTalk"),
    ("edg/", "Edge"), ("edge/", "Edge"), ("opr/", "Opera"), ("firefox/", "Firefox"),
    ("fxios/", "Firefox"), ("crios/", "Chrome"), ("chromium/", "Chromium"),
    ("chrome/", "Chrome"), ("safari/", "Safari"), ("curl/", "curl"),
)
SYSTEMS: tuple[tuple[str, str], ...] = (
    ("windows", "Windows"), ("iphone", "iPhone"), ("ipad", "iPad"), ("android", "Android"),
    ("cros", "ChromeOS"), ("mac os x", "macOS"), ("macintosh", "macOS"), ("linux", "Linux"),
)
MAX_UNKNOWN = 40


def first_match(agent: str, table: tuple[tuple[str, str], ...]) -> str | None:
    return next((name for marker, name in table if marker in agent), None)


def device_summary(user_agent: str | None) -> str:
    """"Browser · system"; the start of the raw string when neither is known; "?" when empty."""
    raw = (user_agent or "").strip()
    if not raw:
        return "?"
    agent = raw.lower()
    parts = [p for p in (first_match(agent, BROWSERS), first_match(agent, SYSTEMS)) if p]
    if parts:
        return " · ".join(parts)
    return raw[:MAX_UNKNOWN] + ("…" if len(raw) > MAX_UNKNOWN else "")
