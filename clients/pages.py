"""The little HTML the example apps share: a page frame and a table of claims. Everything that
comes from a token or a person is escaped here."""

from __future__ import annotations

import json
from html import escape
from typing import Any

_STYLE = """
body { font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 0;
       background: #f4f6f8; color: #1d2733; }
header { background: var(--accent); color: #fff; padding: 1rem 1.5rem; }
header h1 { margin: 0; font-size: 1.3rem; }
main { max-width: 48rem; margin: 1.5rem auto; background: #fff; padding: 1.5rem;
       border-radius: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.1); }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; border-bottom: 1px solid #e3e7eb; padding: .35rem .5rem;
         vertical-align: top; word-break: break-all; }
th { width: 14rem; color: #52606d; font-weight: 600; }
a.button, button { display: inline-block; background: var(--accent); color: #fff; border: 0;
       padding: .55rem 1rem; border-radius: 4px; text-decoration: none; font-size: 1rem;
       cursor: pointer; margin: .25rem .5rem .25rem 0; }
nav a { margin-right: 1rem; }
@media (max-width: 480px) { th { width: auto; } main { margin: 0; border-radius: 0; } }
"""


def page(title: str, body: str, *, accent: str = "#1f6feb") -> str:
    """A whole HTML document; `body` is trusted HTML built by the caller with escape()."""
    return (
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)}</title><style>:root {{ --accent: {accent}; }}{_STYLE}</style>"
        f"</head><body><header><h1>{escape(title)}</h1></header><main>{body}</main></body></html>"
    )


def claims_table(claims: dict[str, Any]) -> str:
    rows = []
    for name in sorted(claims):
        value = claims[name]
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        rows.append(f"<tr><th>{escape(name)}</th><td data-claim=\"{escape(name)}\">"
                    f"{escape(text)}</td></tr>")
    return "<table class=\"claims\">" + "".join(rows) + "</table>"


def links(items: dict[str, str | None]) -> str:
    """Navigation to the other campus apps (those that are configured)."""
    return "<nav>" + "".join(
        f"<a href=\"{escape(url)}\">{escape(label)}</a>" for label, url in items.items() if url
    ) + "</nav>"
