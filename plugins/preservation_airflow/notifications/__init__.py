"""Airflow notifiers: the Slack alerts sent when a transfer or the watcher fails."""
