"""Upstream accounts: signing in with an account of another identity provider (another
university's OpenID provider, WeCom, DingTalk, WeChat) that is bound to a campus entry.

A connector (one module per kind) knows one provider's protocol: where to send the browser and
how to turn the code it brings back into an `UpstreamAccount` (whose account space, which id).
bindings.py says which campus person such an account is; states.py keeps the round trip's
state, nonce and PKCE verifier. The pages (idp/web/upstream.py) put them together and hand the
person to the sign-in core, as the password login does.
"""
