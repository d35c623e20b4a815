"""Identity providers (OpenID Connect) and signing in through them (``/v3``)."""
