"""The preservation command's work done inside Airflow's environment: run one ingest, list and
fetch AIPs from the deployment's store.
"""
