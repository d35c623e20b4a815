"""Access tokens: who may call the API, and who did what."""
