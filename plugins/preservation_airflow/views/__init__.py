"""The Packages page of the Airflow UI: what it reads from Airflow's database (packages_data)
and how it shows it (packages_view)."""
