"""The OAuth 2.0 / OpenID Connect protocol engine (authlib), wired in server.py."""
