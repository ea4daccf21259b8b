# One image for every Airflow component of docker-compose.yaml: Airflow 3 with our
# requirements, the format tools from Debian (the Makefile's APT_PACKAGES), the domain
# library, the DAGs and the plugins.
FROM apache/airflow:3.3.2-python3.11
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends clamav clamav-daemon p7zip-full libimage-exiftool-perl mediainfo ffmpeg imagemagick ghostscript qpdf mediaconch tesseract-ocr tesseract-ocr-eng libreoffice-writer-nogui libreoffice-calc-nogui fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/* \
 # The processing directory: a named volume mounted here starts with this owner.
 && mkdir -p /opt/airflow/preservation && chown airflow:root /opt/airflow/preservation
USER airflow
COPY --chown=airflow requirements.txt constraints.txt pyproject.toml /opt/preservation/
COPY --chown=airflow preservation /opt/preservation/preservation
# The wheel holds the adapters and the DAG files too (pyproject.toml's package-dir).
COPY --chown=airflow dags /opt/preservation/dags
COPY --chown=airflow plugins /opt/preservation/plugins
RUN pip install --no-cache-dir -r /opt/preservation/requirements.txt \
 && pip install --no-cache-dir --no-deps /opt/preservation
COPY --chown=airflow dags /opt/airflow/dags
COPY --chown=airflow plugins /opt/airflow/plugins
