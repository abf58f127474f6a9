"""The interaction UI: login, consent, logout pages (zh + en)."""
