"""Access management as Konnect's identity API (``/v3``): users, teams, system accounts,
their tokens and role assignments."""
