# The newcomer's commands: `make demo` (install everything, ingest the example transfer)
# and `make test` (install everything, run the test suite). `make run` opens Airflow.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export PRESERVATION_HOME ?= $(CURDIR)/var
# ClamAV, 7-Zip, and the format tools the format policy registry names (characterization,
# validation, normalization, thumbnails, OCR).
APT_PACKAGES := clamav clamav-daemon p7zip-full libimage-exiftool-perl mediainfo ffmpeg \
	imagemagick ghostscript qpdf mediaconch tesseract-ocr tesseract-ocr-eng \
	libreoffice-writer-nogui libreoffice-calc-nogui fonts-dejavu-core
TOOLS := clamscan clamd sigtool 7z exiftool mediainfo ffmpeg ffprobe gs qpdf mediaconch \
	tesseract soffice docker-compose chromium chromedriver node npm
# The tests validate docker-compose.yaml with Debian's Compose client (no engine needed)
# and look at the UI in Debian's Chromium, driven through its chromedriver.
# Node.js and npm only where the machine has none: a NodeSource nodejs (which bundles
# npm) conflicts with Debian's npm package.
TEST_APT_PACKAGES := docker-compose chromium chromium-driver \
	$(if $(shell command -v npm),,$(if $(shell command -v node),npm,nodejs npm))

.PHONY: install test-oidc tools venv demo test run cluster-up cluster-down lint bench bench-tools bench-100k bench-metsrw bench-drop-box \
	bench-clamav bench-hostile bench-packages-page chaos clean

install: tools venv test-oidc

# The tests' OpenID Connect provider (node's oidc-provider, pinned by its lock file).
test-oidc: tests/oidc/node_modules/.installed

tests/oidc/node_modules/.installed: tests/oidc/package.json tests/oidc/package-lock.json
	cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian packages for the external tools (root, as on the project's machines).
tools:
	@missing=""; for t in $(TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing $(APT_PACKAGES) (missing:$$missing)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) $(TEST_APT_PACKAGES); \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

# Offline machines have no ClamAV signatures (freshclam cannot download them): demo and
# run then use a database built with sigtool that holds EICAR's signature only.
CLAMAV_FALLBACK = db="$${CLAMAV_DATABASE:-}"; \
	if [ -z "$$db" ] && ! ls /var/lib/clamav/*.c[lv]d >/dev/null 2>&1 \
	   && [ ! -S "$${CLAMD_SOCKET:-/var/run/clamav/clamd.ctl}" ]; then \
	  db="$(PRESERVATION_HOME)/clamav-test-db"; $(BIN)/preservation clamav-test-database "$$db"; \
	fi; export CLAMAV_DATABASE="$$db";

# Ingest the bundled example transfer on the embedded default (SQLite Airflow, local
# AIP store under var/).
demo: install
	@$(CLAMAV_FALLBACK) $(BIN)/preservation ingest examples/demo-transfer

test: install
	$(BIN)/python -m pytest

# Airflow standalone (api-server on http://127.0.0.1:8080, scheduler, DAG processor,
# triggerer) on the embedded default, with the DAGs of dags/ loaded. One user, admin,
# whose password is printed once, the first time (then kept in
# $(PRESERVATION_HOME)/airflow/simple_auth_manager_passwords.json.generated).
run: install
	@$(CLAMAV_FALLBACK) $(BIN)/preservation airflow standalone

# The distributed deployment (docker-compose.yaml's components) as native processes:
# Airflow on this machine's PostgreSQL and Redis with the Celery executor, two Celery
# workers and moto's S3 server, under var/cluster. `make cluster-down` stops it.
cluster-up: install
	@$(CLAMAV_FALLBACK) $(BIN)/preservation cluster up --home $(PRESERVATION_HOME)/cluster

cluster-down:
	$(BIN)/preservation cluster down --home $(PRESERVATION_HOME)/cluster

lint: venv
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# Three corpora (small, large, mixed) against the SHA-256 floor and bagit-python, then
# Airflow's own cost on the native cluster; writes bench/results/<date>.{json,md,png}.
bench: install bench-tools
	$(BIN)/python bench/bench_suite.py

# 100,000 files in one transfer through the real DAG (opt-in: about 7 minutes of ingest,
# then the stored AIP read back by lxml, metsrw and bagit-python, which take longer), in a
# memory cgroup of BENCH_100K_MEMORY_MB (root; empty: no limit).
BENCH_100K_MEMORY_MB ?= 1024
bench-100k: install
	$(BIN)/python bench/bench_100k.py $(if $(BENCH_100K_MEMORY_MB),--memory-limit-mb $(BENCH_100K_MEMORY_MB))

# How metsrw's read time grows with the files of a METS (AIPs of 500 to 4,000 files),
# its growth exponent extrapolated to 100,000 files, and where its time goes (cProfile).
bench-metsrw: install
	$(BIN)/python bench/bench_metsrw.py

# Where ClamAV's time goes: clamscan (one process, and split as Scan for viruses does)
# against a clamd started for it, on the large and small corpora.
bench-clamav: install
	$(BIN)/python bench/bench_clamav.py

# What the a3m peer needs besides ours (it unpacks with atool and lists with tree); a3m
# itself is pinned in bench/bench_a3m.py and installed in a venv of its own under var/.
bench-tools:
	@command -v atool >/dev/null && command -v tree >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends atool tree)

# Only what an archivist waits for on the native cluster: upload -> feedback log and
# upload -> AIP indexed, p50/p95 over 10 uploads (part of `make bench`).
bench-drop-box: install
	$(BIN)/python bench/bench_drop_box.py --uploads 10

# Every family of odd and hostile packages through validate-transfer and ingest: the
# verdict, the seconds and the peak memory of each (bounds: 60 s, 1 GB).
bench-hostile: install
	$(BIN)/python bench/bench_hostile.py

# The Packages page with 10,000 transfers in a PostgreSQL metadata database (target < 1 s).
bench-packages-page: install
	$(BIN)/python bench/bench_packages_page.py --runs 10000

# The chaos sweep on the native cluster: a worker SIGKILLed at every task position in
# turn (CI runs a sample of two, chosen from the commit); prints and saves the table.
chaos: install
	rm -f var/chaos/results.jsonl
	PRESERVATION_CHAOS=all $(BIN)/python -m pytest -p no:cacheprovider tests/system/test_chaos.py
	$(BIN)/python bench/chaos_report.py

clean:
	rm -rf var .pytest_cache
