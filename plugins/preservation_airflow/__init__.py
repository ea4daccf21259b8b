"""Thin Airflow adapters around the preservation library, by Airflow component kind: hooks,
operators, triggers, notifications, views (the Packages page), auth, and the commands the
``preservation`` command runs inside Airflow's environment. ``dag_defaults`` is what the
DAG files read from the environment when they are parsed."""
