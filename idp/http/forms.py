"""application/x-www-form-urlencoded bodies (the token, introspection, revocation and userinfo
endpoints, and the rate limiter that reads the client id before them).

`urllib.parse.parse_qsl` over the buffered body: a tenth of the cost of Starlette's streaming
form parser, which is built for multipart uploads these endpoints never accept.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

FORM_TYPE = "application/x-www-form-urlencoded"
# as many fields as Starlette's form parser allows; no OAuth request comes near it
MAX_FIELDS = 1000


class TooManyFields(ValueError):
    """The body has more than MAX_FIELDS fields."""


def is_form(content_type: str) -> bool:
    return content_type.startswith(FORM_TYPE)


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """Every (name, value) in order, blank values kept. Bytes that are not UTF-8 become U+FFFD:
    such a value can only fail the check it reaches (a client id, a code), never crash."""
    try:
        return parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True,
                         max_num_fields=MAX_FIELDS, errors="replace")
    except ValueError as exc:  # parse_qsl's only ValueError here is the field limit
        raise TooManyFields(str(exc)) from None
