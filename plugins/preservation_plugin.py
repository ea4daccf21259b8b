"""Airflow's plugins folder loads the preservation plugin from here: the Packages page and
the Package tab (``preservation_airflow.plugin``). ``.airflowignore`` keeps the folder
loader out of ``preservation_airflow/``, which is imported as a package instead."""

from preservation_airflow.plugin import PreservationPlugin  # noqa: F401
