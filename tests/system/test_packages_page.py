"""The archivist's view, looked at in a real browser (Debian's Chromium, driven through its
chromedriver) on the production topology: packages uploaded to the drop box are found on
the Packages page by name and identifier, with a running one's stage, a failed one's
reason and a stored one's AIP, within two clicks of Airflow's home page; the package page
shows the formats; a run's page names its package and says, in words, how the run started;
the Validation task log names the file that failed; the page refuses a request without a
login.

Screenshots of each page are saved under ``var/screenshots/`` (``PRESERVATION_SCREENSHOTS``).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
import uuid

import pytest

from tests.browser import api_token, chromium, log_in, shoot
from tests.conftest import EICAR
from tests.media import image, truncated, zip_bytes
from tests.system.conftest import FINISHED, wait_until

pytestmark = pytest.mark.system


def metadata(identifier: str) -> str:
    return f"filename,dc.identifier,dc.title\nobjects/,{identifier},Letters\n"


@pytest.fixture(scope="module")
def uploads(airflow_cluster):
    """A stored package (with a damaged image, which fails validation and is kept), a
    failed one (a virus), a rejected upload, and a big one still running when the page is
    first looked at."""
    cluster = airflow_cluster
    token = uuid.uuid4().hex[:8]
    made = {
        "stored": (
            f"UI_STORED_{token}",
            f"PP/UI/{token}/stored",
            {"letter.txt": "Dear Sir", "scan.png": truncated(image("PNG", (300, 200)))},
        ),
        "failed": (f"UI_VIRUS_{token}", f"PP/UI/{token}/virus", {"invoice.com": EICAR.decode()}),
        "running": (
            f"UI_BIG_{token}",
            f"PP/UI/{token}/big",
            {f"recording-{n}.bin": os.urandom(40 << 20) for n in range(4)},
        ),
    }
    client = cluster.s3()
    found = {}
    for role, (name, identifier, files) in made.items():
        key = f"born-digital/{name}.zip"
        body = zip_bytes({**files, "metadata/metadata.csv": metadata(identifier)})
        client.put_object(Bucket=cluster.bucket, Key=key, Body=body)
        found[role] = {
            "name": name,
            "identifier": identifier,
            "upload": cluster.drop_box().upload(key),
        }
    client.put_object(
        Bucket=cluster.bucket, Key=f"born-digital/UI_BROKEN_{token}.zip", Body=b"not a zip"
    )
    found["rejected"] = {"name": f"UI_BROKEN_{token}.zip"}
    return found


@pytest.fixture(scope="module")
def browser(airflow_cluster, tmp_path_factory):
    with chromium(tmp_path_factory.mktemp("chromium")) as driver:
        log_in(
            driver, airflow_cluster.native.site.api_url, "admin", admin_password(airflow_cluster)
        )
        yield driver


def admin_password(cluster) -> str:
    return cluster.native.site.admin_password


def token(cluster) -> str:
    return api_token(cluster.native.site.api_url, "admin", admin_password(cluster))


def until(what: str, check, timeout: float = 300, interval: float = 1.0):
    return wait_until(what, check, timeout, interval)


def packages_text(driver, cluster, query: str = "") -> str:
    driver.get(f"{cluster.native.site.api_url}/packages/{query}")
    return driver.find_element("tag name", "body").text


def test_a_running_package_shows_its_stage(airflow_cluster, uploads, browser):
    cluster = airflow_cluster
    name = uploads["running"]["name"]

    def running_row():
        packages_text(browser, cluster, "?state=running")
        rows = browser.find_elements("css selector", f"tr[data-run-id^='{name}__']")
        return rows and "running" in rows[0].text and rows[0]

    row = until("the big package to be running on the page", running_row, 240, 0.5)
    stage = row.find_elements("tag name", "td")[4].text
    assert stage and stage not in ("Queued", "Stored", "Finishing")  # a micro-service's name
    assert "running" in row.text
    shoot(browser, "packages-running")


def _words_broken(browser, cell) -> list[str]:
    """The words of the cell's text that the browser draws across two lines."""
    return browser.execute_script(
        """
        const broken = [];
        const walker = document.createTreeWalker(arguments[0], NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            for (const word of node.data.matchAll(/\\S+/g)) {
                const range = document.createRange();
                range.setStart(node, word.index);
                range.setEnd(node, word.index + word[0].length);
                const tops = new Set([...range.getClientRects()].map(b => Math.round(b.top)));
                if (tops.size > 1) broken.push(word[0]);
            }
        }
        return broken;
        """,
        cell,
    )


def test_failed_reason_and_stored_aip_are_two_clicks_from_home(airflow_cluster, uploads, browser):
    from selenium.webdriver.common.by import By

    cluster = airflow_cluster
    runs = {role: uploads[role]["upload"].run_id for role in ("stored", "failed")}
    until(
        "the stored and the failed package to finish",
        lambda: (
            all(s in FINISHED for s in cluster.run_states(runs.values()).values())
            and len(cluster.run_states(runs.values())) == 2
        ),
    )
    api = cluster.native.site.api_url
    browser.get(f"{api}/")
    until("Airflow's home page", lambda: browser.find_elements(By.LINK_TEXT, "Packages"), 60, 0.5)
    browser.find_element(By.LINK_TEXT, "Packages").click()  # click 1: the navigation
    frame = until(
        "the Packages view", lambda: browser.find_elements(By.TAG_NAME, "iframe"), 60, 0.5
    )
    browser.switch_to.frame(frame[0])
    table = until(
        "the packages table", lambda: browser.find_elements(By.TAG_NAME, "table"), 60, 0.5
    )
    text = table[0].text
    failed_row = browser.find_element(By.CSS_SELECTOR, f"tr[data-run-id='{runs['failed']}']")
    assert "Scan for viruses" in failed_row.text
    assert "invoice.com: Eicar-Test-Signature" in failed_row.text  # the reason, seen
    stored_row = browser.find_element(By.CSS_SELECTOR, f"tr[data-run-id='{runs['stored']}']")
    assert "born-digital, version 1" in stored_row.text
    assert f"s3://{cluster.aip_bucket}/aips/born-digital/" in stored_row.text  # where it is
    assert uploads["stored"]["identifier"] in text
    for row in (failed_row, stored_row):  # identifier, stage, duration, files: whole words
        cells = row.find_elements(By.TAG_NAME, "td")
        assert [w for i in (1, 4, 6, 7) for w in _words_broken(browser, cells[i])] == []
    browser.switch_to.default_content()
    shoot(browser, "packages-in-airflow")

    # One more click: the failed stage's task log, whose last words are the verdict's.
    browser.switch_to.frame(browser.find_elements(By.TAG_NAME, "iframe")[0])
    failed_row = browser.find_element(By.CSS_SELECTOR, f"tr[data-run-id='{runs['failed']}']")
    failed_row.find_element(By.LINK_TEXT, "task log").click()
    browser.switch_to.default_content()
    until(
        "the task log",
        lambda: "What to do" in browser.find_element(By.TAG_NAME, "body").text,
        120,
        1,
    )
    assert "/tasks/scan_for_viruses" in browser.current_url
    log_text = browser.find_element(By.TAG_NAME, "body").text
    assert "Scan for viruses refused the package" in log_text
    assert "Traceback" not in log_text.split("refused the package")[1].split("Post Execute")[0]
    shoot(browser, "verdict-task-log")


def test_a_package_is_found_by_its_identifier_and_its_page_shows_the_formats(
    airflow_cluster, uploads, browser
):
    from selenium.webdriver.common.by import By

    cluster = airflow_cluster
    stored = uploads["stored"]
    until(
        "the stored package",
        lambda: (
            cluster.run_states([stored["upload"].run_id]) == {stored["upload"].run_id: "success"}
        ),
    )
    text = packages_text(browser, cluster, f"?q={stored['identifier']}")
    assert stored["name"] in text and uploads["failed"]["name"] not in text
    shoot(browser, "packages-search")
    browser.find_element(By.LINK_TEXT, f"{stored['name']}.zip").click()
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Formats" in body and "Plain Text File" in body and "x-fmt/111" in body
    assert "Download the AIP" in body and stored["identifier"] in body
    shoot(browser, "package-detail")


def test_a_rejected_upload_is_listed_with_its_feedback_log_words(airflow_cluster, uploads, browser):
    cluster = airflow_cluster
    text = until(
        "the rejected upload on the page",
        lambda: (
            (t := packages_text(browser, cluster, "?state=rejected"))
            and uploads["rejected"]["name"] in t
            and t
        ),
        timeout=120,
    )
    assert "WRONG: Unable to read transfer package: File is not a zip file" in text
    shoot(browser, "packages-rejected")


def test_the_run_page_names_its_package_and_how_it_started(airflow_cluster, uploads, browser):
    from selenium.webdriver.common.by import By

    cluster = airflow_cluster
    run_id = uploads["stored"]["upload"].run_id
    assert run_id.startswith(uploads["stored"]["name"])  # the run id reads as the package
    browser.get(f"{cluster.native.site.api_url}/dags/transfer_ingest/runs/{run_id}")

    def shown() -> str:
        return browser.find_element(By.TAG_NAME, "body").text

    until(
        "the run's note and its type",
        lambda: "Package:" in shown() and "Run Type" in shown(),
        60,
        0.5,
    )
    page = shown()
    assert f"{uploads['stored']['name']}.zip" in page
    # The watcher started it: its type is said in words, not as Airflow's raw label key.
    assert "runTypes." not in page
    assert "Triggered by a Dag" in page
    shoot(browser, "run-note")


def test_the_validation_log_names_the_file_that_failed_and_why(airflow_cluster, uploads, browser):
    from selenium.webdriver.common.by import By

    cluster = airflow_cluster
    run_id = uploads["stored"]["upload"].run_id
    until("the stored package", lambda: cluster.run_states([run_id]) == {run_id: "success"})
    browser.get(
        f"{cluster.native.site.api_url}/dags/transfer_ingest/runs/{run_id}"
        "/tasks/validate_files/mapped/0"
    )
    text = until(
        "the Validation task log",
        lambda: (
            (t := browser.find_element(By.TAG_NAME, "body").text) and "failed validation" in t and t
        ),
        120,
        1,
    )
    heading = "Validation: 1 file(s) failed validation (kept in the AIP):"
    named = "objects/scan.png: OSError: Truncated File Read"  # the file, the validator's words
    assert heading in text and named in text.split(heading)[1]
    shoot(browser, "validation-task-log")


def test_the_page_refuses_a_request_without_a_login(airflow_cluster):
    api = airflow_cluster.native.site.api_url
    for path in (
        "/packages/",
        "/packages/run/x",
        "/packages/aip/00000000-0000-0000-0000-000000000000/download",
    ):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{api}{path}", timeout=30)
        assert refused.value.code in (401, 403), path
