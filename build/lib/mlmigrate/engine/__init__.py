"""The engine: plan, run, journal, verify and report a migration."""
