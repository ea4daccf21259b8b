"""Who may do what on a deployment: the roles (``Archivist``, ``Operator``, Airflow's
``Admin``), the DAGs archivists may start, and the bootstrap admin account.

Deployments use Airflow's FAB auth manager. ``python -m preservation_airflow.auth.access init``
is the deployment's init job (docker-compose's ``airflow-init``, ``preservation cluster
up``): it migrates the metadata database, creates the roles and creates (or resets) the
local admin from ``PRESERVATION_ADMIN_USER`` / ``PRESERVATION_ADMIN_PASSWORD`` — never
printed. Users of single sign-on get their roles from their groups at each login
(:mod:`preservation_airflow.auth.webserver_config`).

What each role may do on one DAG is the DAG's own ``access_control`` (:data:`START_DAG`),
which Airflow's dag-processor applies: a grant made here on a single DAG would be revoked
by it.
"""

from __future__ import annotations

import os
import subprocess
import sys

ARCHIVIST, OPERATOR, ADMIN = "Archivist", "Operator", "Admin"
#: The DAGs an archivist starts (and sees the runs of): its ``access_control``.
START_DAG = {ARCHIVIST: {"DAGs": {"can_read", "can_edit"}, "DAG Runs": {"can_read", "can_create"}}}


def role_permissions() -> dict[str, list[tuple[str, str]]]:
    """(action, resource) of the deployment's own roles, from Airflow's Viewer and User.

    * Archivist: everything a Viewer reads (DAGs, runs, task logs, XCom, assets), the
      Packages page in the navigation (the plugins' list), answering decisions;
      starting runs only of the DAGs whose ``access_control`` names it. No connections,
      variables, configuration, pools, deleting or clearing.
    * Operator: also pauses DAGs, starts any DAG (housekeeping, audits), clears and marks
      task instances and runs; still no connections, variables or configuration, and no
      deleting DAGs or runs.
    """
    from airflow.providers.fab.auth_manager.security_manager.override import (
        FabAirflowSecurityManagerOverride as Roles,
    )

    viewer = list(Roles.VIEWER_PERMISSIONS)
    # The UI builds its navigation (our Packages page) from the plugins' list.
    archivist = viewer + [
        ("can_read", "Plugins"),
        ("can_edit", "HITL Detail"),
        ("menu_access", "HITL Detail"),
    ]
    never = {("can_delete", "DAGs"), ("can_delete", "DAG Runs")}
    operator = archivist + [p for p in Roles.USER_PERMISSIONS if p not in never]
    return {ARCHIVIST: sorted(set(archivist)), OPERATOR: sorted(set(operator))}


def sync_roles(security_manager) -> None:
    """Airflow's built-in roles, then ours (permissions only ever added here)."""
    security_manager.sync_roles()
    security_manager.bulk_sync_roles(
        {"role": name, "perms": perms} for name, perms in role_permissions().items()
    )


def ensure_admin(security_manager, username: str, password: str) -> str:
    """The bootstrap admin exists with this password; returns what was done."""
    user = security_manager.find_user(username=username)
    admin = security_manager.find_role(ADMIN)
    if user is None:
        created = security_manager.add_user(
            username, "Admin", "(bootstrap)", f"{username}@localhost", admin, password
        )
        if not created:
            raise SystemExit(f"Could not create the admin user {username!r}")
        return f"created the admin user {username!r}"
    security_manager.reset_password(user.id, password)
    if admin not in user.roles:
        user.roles.append(admin)
        security_manager.update_user(user)
    return f"the admin user {username!r} has the password of PRESERVATION_ADMIN_PASSWORD"


def init() -> None:
    """The deployment's init job: database, roles, bootstrap admin."""
    username = os.environ.get("PRESERVATION_ADMIN_USER", "admin")
    password = os.environ.get("PRESERVATION_ADMIN_PASSWORD", "")
    if len(password) < 12:
        raise SystemExit(
            "Set PRESERVATION_ADMIN_PASSWORD (12 characters or more; in .env for "
            "docker compose): the bootstrap admin's password."
        )
    subprocess.run(["airflow", "db", "migrate"], check=True)
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        sync_roles(appbuilder.sm)
        print(f"Roles: {', '.join(sorted(role_permissions()))}, {ADMIN} (and Airflow's own)")
        print(ensure_admin(appbuilder.sm, username, password))


if __name__ == "__main__":
    if sys.argv[1:] != ["init"]:
        raise SystemExit("usage: python -m preservation_airflow.auth.access init")
    init()
