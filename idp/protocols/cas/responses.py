"""CAS responses (CAS Protocol 3.0 §2.4-2.7 and Appendix A): the `yes`/`no` lines of CAS 1.0,
the `cas:serviceResponse` XML document and its JSON form (`format=JSON`, §2.5.1).

Every CAS answer carries no-cache headers (Appendix B). Error codes are the spec's (§2.5.3,
§2.7.3); the description is for the service's developers and never echoes a ticket whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from starlette.responses import Response

NAMESPACE = "http://www.yale.edu/tp/cas"
NO_CACHE = {"Cache-Control": "no-store", "Pragma": "no-cache", "Expires": "0"}

INVALID_REQUEST = "INVALID_REQUEST"
INVALID_TICKET_SPEC = "INVALID_TICKET_SPEC"
UNAUTHORIZED_SERVICE_PROXY = "UNAUTHORIZED_SERVICE_PROXY"
INVALID_PROXY_CALLBACK = "INVALID_PROXY_CALLBACK"
INVALID_TICKET = "INVALID_TICKET"
INVALID_SERVICE = "INVALID_SERVICE"
INTERNAL_ERROR = "INTERNAL_ERROR"
UNAUTHORIZED_SERVICE = "UNAUTHORIZED_SERVICE"  # /proxy (§2.7.3)


class CasFailure(Exception):
    """A validation or proxy request that fails with one of the spec's codes."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


@dataclass
class Success:
    user: str
    attributes: dict[str, list[str]] | None = None  # CAS 3.0 only (p3/ endpoints)
    pgt_iou: str | None = None
    proxies: list[str] = field(default_factory=list)  # newest first


def _element(name: str, value: str) -> str:
    return f"<cas:{name}>{escape(value)}</cas:{name}>"


def success_xml(success: Success) -> str:
    parts = ["<cas:authenticationSuccess>", _element("user", success.user)]
    if success.attributes is not None:
        parts.append("<cas:attributes>")
        for name, values in success.attributes.items():
            parts.extend(_element(name, value) for value in values)  # one element per value
        parts.append("</cas:attributes>")
    if success.pgt_iou:
        parts.append(_element("proxyGrantingTicket", success.pgt_iou))
    if success.proxies:
        parts.append("<cas:proxies>")
        parts.extend(_element("proxy", proxy) for proxy in success.proxies)
        parts.append("</cas:proxies>")
    parts.append("</cas:authenticationSuccess>")
    return _document("".join(parts))


def _document(body: str) -> str:
    return f'<cas:serviceResponse xmlns:cas="{NAMESPACE}">{body}</cas:serviceResponse>\n'


def success_json(success: Success) -> dict[str, Any]:
    body: dict[str, Any] = {"user": success.user}
    if success.attributes is not None:
        # a single value stays a string, several become a list (as the spec's example shows)
        body["attributes"] = {name: values[0] if len(values) == 1 else values
                              for name, values in success.attributes.items()}
    if success.pgt_iou:
        body["proxyGrantingTicket"] = success.pgt_iou
    if success.proxies:
        body["proxies"] = list(success.proxies)
    return {"serviceResponse": {"authenticationSuccess": body}}


def answer(format_: str, success: Success | None = None, failure: CasFailure | None = None,
           *, proxy: bool = False, proxy_ticket: str | None = None,
           status: int = 200) -> Response:
    """The validation (or /proxy) answer in XML or JSON. The HTTP status is 200 whatever the
    outcome (it is in the document, which is what every CAS client reads), except for an
    INTERNAL_ERROR while a backend is down: 503, so that monitors and load balancers see it."""
    headers = NO_CACHE if status == 200 else {**NO_CACHE, "Retry-After": "5"}
    if format_ == "JSON":
        if proxy_ticket is not None:
            document: dict[str, Any] = {"serviceResponse": {"proxySuccess": {
                "proxyTicket": proxy_ticket}}}
        elif failure is not None:
            # the spec's JSON form of a /proxy failure is authenticationFailure too (§2.7.2)
            document = {"serviceResponse": {"authenticationFailure": {
                "code": failure.code, "description": failure.description}}}
        else:
            assert success is not None
            document = success_json(success)
        return Response(json.dumps(document, ensure_ascii=False), status_code=status,
                        media_type="application/json", headers=headers)
    if proxy_ticket is not None:
        text = _document(f"<cas:proxySuccess>{_element('proxyTicket', proxy_ticket)}"
                         "</cas:proxySuccess>")
    elif failure is not None:
        tag = "proxyFailure" if proxy else "authenticationFailure"
        text = _document(f'<cas:{tag} code="{escape(failure.code)}">'
                         f"{escape(failure.description)}</cas:{tag}>")
    else:
        assert success is not None
        text = success_xml(success)
    return Response(text, status_code=status, media_type="application/xml; charset=utf-8",
                    headers=headers)


def v1_answer(user: str | None, status: int = 200) -> Response:
    """CAS 1.0 /validate (§2.4.2): `yes<LF>user<LF>` or `no<LF><LF>`."""
    text = f"yes\n{user}\n" if user is not None else "no\n\n"
    return Response(text, status_code=status, media_type="text/plain; charset=utf-8",
                    headers=NO_CACHE)


def response_format(value: str | None) -> str | None:
    """XML (the default) or JSON; None for anything else, which the caller refuses (§2.5.1)."""
    if value is None or value == "":
        return "XML"
    upper = value.upper()
    return upper if upper in ("XML", "JSON") else None


def internal_error(path: str, format_value: str | None) -> Response:
    """What a CAS client gets when a backend is down: INTERNAL_ERROR in the shape it asked for
    (the server's error policy, idp/server/errors.py, calls this)."""
    failure = CasFailure(INTERNAL_ERROR, "The CAS server is temporarily unavailable.")
    if path == "/cas/validate":
        return v1_answer(None, status=503)
    return answer(response_format(format_value) or "XML", failure=failure,
                  proxy=path.endswith("/proxy"), status=503)
