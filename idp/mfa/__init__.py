"""Second factors: TOTP (RFC 6238), WebAuthn / passkeys, recovery codes; when they are required,
and how a login or a step-up passes through them (flow.py)."""
