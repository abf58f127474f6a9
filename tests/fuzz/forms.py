"""Hypothesis strategies for the form endpoints: field names the endpoint knows mixed with junk,
values from real ones (client ids, redirect URIs, grant types) to hostile ones (NUL, 5,000
characters, LDAP filter and SQL fragments, scripts), and bodies that are not forms at all."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
from hypothesis import strategies as st

HOSTILE = [
    "", " ", "\x00", "a\x00b", "a" * 5000, "%00", "../../etc/passwd", "<script>alert(1)</script>",
    "' OR 1=1 --", "*)(uid=*))(|(uid=*", "\\", "é", "张三", "\u202e", "null", "[]", "{}", "-1",
    "0", "99999999999999999999", "1e309", "NaN", "true", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    "Basic Og==", "http://evil.example/", "javascript:alert(1)", "openid" * 200,
]
TEXT = st.text(max_size=60)
XFF = st.sampled_from(["10.1.2.3", "::1", "garbage", "1.2.3.4, 5.6.7.8", "", "999.1.1.1"])


def values(*real: str) -> st.SearchStrategy[str]:
    return st.one_of(TEXT, st.sampled_from(HOSTILE), *([st.sampled_from(real)] if real else []))


def fields(names: list[str], *real: str) -> st.SearchStrategy[list[tuple[str, str]]]:
    """A form as (name, value) pairs: names repeat, unknown names appear, values vary."""
    name = st.one_of(st.sampled_from(names), TEXT)
    return st.lists(st.tuples(name, values(*real)), max_size=10)


@st.composite
def bodies(draw: st.DrawFn, names: list[str], *real: str) -> dict[str, Any]:
    """A request body: a form (most of the time), multipart, JSON, or raw bytes with any content
    type. `items` are the (name, value) pairs (the query of a GET)."""
    items = draw(fields(names, *real))
    kind = draw(st.sampled_from(["form", "form", "form", "multipart", "json", "raw"]))
    body: dict[str, Any] = {"items": items, "kind": kind}
    if kind == "multipart":
        body["file"] = draw(st.binary(max_size=64))
    if kind == "raw":
        body["raw"] = draw(st.binary(max_size=300))
        body["content_type"] = draw(st.sampled_from([
            "application/x-www-form-urlencoded", "text/plain", "application/json",
            "multipart/form-data", "multipart/form-data; boundary=x", "",
            "application/x-www-form-urlencoded; charset=bogus"]))
    return body


def send(client: httpx.Client, method: str, url: str, body: dict[str, Any],
         headers: dict[str, str]) -> httpx.Response:
    items, kind = body["items"], body["kind"]
    if method == "GET":
        return client.get(url, params=items, headers=headers)
    if kind == "form":
        return client.request(method, url, content=urlencode(items).encode(), headers={
            **headers, "content-type": "application/x-www-form-urlencoded"})
    if kind == "multipart":
        return client.request(method, url, data=dict(items), headers=headers,
                              files={"upload": ("x.bin", body["file"])})
    if kind == "json":
        return client.request(method, url, json=dict(items), headers=headers)
    return client.request(method, url, content=body["raw"],
                          headers={**headers, "content-type": body["content_type"]})
