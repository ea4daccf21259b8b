"""Running it (not the domain: nothing else in preservation/ imports this): the preservation
command, the embedded default (SQLite Airflow), the native cluster, its topology and the
supervisor that keeps its components running.
"""
