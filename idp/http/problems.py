"""Errors that are answers: raised anywhere below the server, turned into a response by its one
error policy (idp/server/errors.py), so that no protocol or service renders a page itself."""

from __future__ import annotations


class PageError(Exception):
    """The person has to read this on a readable page at the provider, never in a redirect to an
    app: a request that cannot be trusted (RFC 6749 §4.1.2.1), a sign-in that expired.

    `title` and `detail` are keys of the page catalogue (idp/web/i18n.py), shown in the person's
    language, or free text shown as given."""

    def __init__(self, status: int, title: str, detail: str,
                 headers: dict[str, str] | None = None, **values: object) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers
        self.values = values  # what the detail's placeholders name (an app, a contact)
