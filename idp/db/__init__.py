"""Long-lived state in SQL: clients, consents, refresh tokens, audit. SQLite or PostgreSQL."""
