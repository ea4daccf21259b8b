"""Clients built from Airflow connections at execute time: storage and drop boxes (S3 or
local), Slack.
"""
