"""Admin-managed reference data (ticket types, priorities, statuses, asset groups and types) and the audit log."""
