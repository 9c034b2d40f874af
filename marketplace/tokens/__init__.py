"""Personal access tokens of the public API (``/api/v1``) and its idempotency records."""
