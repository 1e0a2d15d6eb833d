"""Alarm-driven automation: failover alarms and health events start failovers; a schedule starts failbacks."""
