"""Who may do what, on the production topology with single sign-on: people log in through
a real OpenID Connect provider (node's oidc-provider on loopback) in headless Chromium,
and their groups give their roles. An archivist starts an ingest and reads the Packages
page, but is refused connections, deleting DAGs and pausing them; an operator may pause;
a person in no mapped group sees nothing; nobody gets in without logging in."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid

import pytest
from selenium.webdriver.common.by import By

from tests.browser import chromium, shoot
from tests.media import zip_bytes

pytestmark = pytest.mark.system


def call(url: str, token: str = "", method: str = "GET", body: dict | None = None):
    """(status, parsed JSON or text) of one API request, as the UI makes it."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read().decode()
            status = answer.status
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode(errors="replace")
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def sso_login(driver, api: str, username: str, screenshot: str = "") -> str:
    """Log in as a person does: Airflow's login page, the provider's button, the
    provider's form and its consent; returns the UI's session token."""
    from selenium.common.exceptions import WebDriverException

    driver.delete_all_cookies()  # of 127.0.0.1: Airflow's session and the provider's
    driver.get(f"{api}/")
    deadline = time.monotonic() + 60

    def wait_for(what, find):
        while True:
            try:  # a page being replaced answers with transient errors
                found = find()
            except WebDriverException:
                found = None
            if found:
                return found
            assert time.monotonic() < deadline, (
                f"{what}: {driver.current_url}\n"
                + (driver.find_element(By.TAG_NAME, "body").text[:2000])
            )
            time.sleep(0.3)

    button = wait_for(
        "Airflow's login page with the single sign-on button",
        lambda: driver.find_elements(By.ID, "btn-signin-oidc"),
    )
    if screenshot:
        shoot(driver, f"{screenshot}-login")
    button[0].click()
    login = wait_for("the provider's form", lambda: driver.find_elements(By.NAME, "login"))
    login[0].send_keys(username)
    driver.find_element(By.NAME, "password").send_keys("any password")
    if screenshot:
        shoot(driver, f"{screenshot}-provider")
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    def consented_and_back():
        if "/interaction/" in driver.current_url:  # the provider asks to consent
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            return None
        return driver.get_cookie("_token") if driver.current_url.startswith(api) else None

    return wait_for("the UI's session", consented_and_back)["value"]


@pytest.fixture(scope="module")
def browser(airflow_cluster, tmp_path_factory):
    with chromium(tmp_path_factory.mktemp("chromium-sso")) as driver:
        yield driver


def test_nobody_gets_in_without_logging_in(airflow_cluster):
    api = airflow_cluster.native.site.api_url
    for path in ("/api/v2/dags", "/api/v2/connections", "/packages/", "/api/v2/dags/~/dagRuns"):
        assert call(f"{api}{path}")[0] in (401, 403), path
    assert call(f"{api}/api/v2/dags", token="not-a-token")[0] in (401, 403)


def test_an_archivist_starts_an_ingest_and_follows_it_but_changes_nothing_else(
    airflow_cluster, browser
):
    cluster = airflow_cluster
    api = cluster.native.site.api_url
    token = sso_login(browser, api, "ada", screenshot="sso")

    # The Packages page is in the archivist's navigation, one click from home.
    browser.get(f"{api}/")
    deadline = time.monotonic() + 60
    while not browser.find_elements(By.LINK_TEXT, "Packages"):
        assert time.monotonic() < deadline, browser.find_element(By.TAG_NAME, "body").text
        time.sleep(0.5)
    assert not browser.find_elements(By.XPATH, "//nav//*[text()='Admin']")  # no admin menu
    browser.find_element(By.LINK_TEXT, "Packages").click()
    while not browser.find_elements(By.TAG_NAME, "iframe"):
        assert time.monotonic() < deadline, browser.find_element(By.TAG_NAME, "body").text
        time.sleep(0.5)
    browser.switch_to.frame(browser.find_element(By.TAG_NAME, "iframe"))
    while not browser.find_elements(By.TAG_NAME, "table"):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert "Rejected uploads" in browser.find_element(By.TAG_NAME, "body").text
    browser.switch_to.default_content()
    shoot(browser, "sso-archivist-packages")

    # Starts an ingest (as the UI's Trigger does) of a package put beside the drop box.
    key = f"manual/SSO_{uuid.uuid4().hex[:8]}.zip"
    metadata = "filename,dc.identifier\nobjects/,PP/SSO/1\n"
    cluster.s3().put_object(
        Bucket=cluster.bucket,
        Key=key,
        Body=zip_bytes({"a.txt": "a", "metadata/metadata.csv": metadata}),
    )
    cluster.unpause("transfer_ingest")
    run_id = f"SSO__manual__{uuid.uuid4().hex[:8]}"
    status, run = call(
        f"{api}/api/v2/dags/transfer_ingest/dagRuns",
        token,
        "POST",
        {
            "dag_run_id": run_id,
            "logical_date": None,
            "conf": {"transfer": f"s3://{cluster.bucket}/{key}"},
        },
    )
    assert status == 200, run
    assert run["triggered_by"] == "rest_api"
    assert cluster.wait_for_runs([run_id], timeout=600) == {run_id: "success"}

    # Refused: connections, variables, configuration, deleting or pausing DAGs, clearing.
    refused = {
        "list connections": call(f"{api}/api/v2/connections", token),
        "add a connection": call(
            f"{api}/api/v2/connections",
            token,
            "POST",
            {"connection_id": "x", "conn_type": "http"},
        ),
        "read variables": call(f"{api}/api/v2/variables", token),
        "read the configuration": call(f"{api}/api/v2/config", token),
        "delete a DAG": call(f"{api}/api/v2/dags/transfer_ingest", token, "DELETE"),
        "delete a run": call(
            f"{api}/api/v2/dags/transfer_ingest/dagRuns/{run_id}", token, "DELETE"
        ),
        "pause housekeeping": call(
            f"{api}/api/v2/dags/housekeeping", token, "PATCH", {"is_paused": True}
        ),
        "start housekeeping": call(
            f"{api}/api/v2/dags/housekeeping/dagRuns", token, "POST", {"logical_date": None}
        ),
        "clear a run": call(
            f"{api}/api/v2/dags/transfer_ingest/clearTaskInstances",
            token,
            "POST",
            {"dry_run": True, "dag_run_id": run_id},
        ),
    }
    assert {what: status for what, (status, _) in refused.items()} == {
        what: 403 for what in refused
    }
    # And the UI does not offer what the role may not do.
    browser.get(f"{api}/connections")
    time.sleep(3)
    shoot(browser, "sso-archivist-connections")
    assert "preservation-airflow" not in browser.find_element(By.TAG_NAME, "body").text


def test_an_operator_may_pause_a_dag_and_a_person_in_no_group_sees_nothing(
    airflow_cluster, browser
):
    api = airflow_cluster.native.site.api_url
    operator = sso_login(browser, api, "otto")
    status, dag = call(f"{api}/api/v2/dags/fixity_audit", operator, "PATCH", {"is_paused": True})
    assert status == 200 and dag["is_paused"] is True
    status, _ = call(f"{api}/api/v2/dags/fixity_audit", operator, "PATCH", {"is_paused": False})
    assert status == 200
    assert call(f"{api}/api/v2/connections", operator)[0] == 403
    assert call(f"{api}/api/v2/dags/transfer_ingest", operator, "DELETE")[0] == 403

    visitor = sso_login(browser, api, "nemo")
    status, dags = call(f"{api}/api/v2/dags", visitor)
    assert status == 403 or dags["total_entries"] == 0
    assert call(f"{api}/packages/", visitor)[0] == 403
