"""Integration events and the audit trail of user actions."""
