"""Thin Airflow adapters around the preservation library: operators and the ingest runner."""
