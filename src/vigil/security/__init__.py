"""Users, roles, sessions, audit, signing and secrets."""
