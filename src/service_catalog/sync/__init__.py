"""The sync engine: schedules, worker leases, runs."""
