"""How people log in to a deployment (Airflow's FAB auth manager reads this file: the
``AIRFLOW__FAB__CONFIG_FILE`` of every component). Settings come from the environment
(``.env`` for docker compose); secrets are never written here.

``PRESERVATION_SSO``:

* unset or ``none``: user names and passwords kept by Airflow (the bootstrap admin of
  ``PRESERVATION_ADMIN_PASSWORD``, and whom the admin adds);
* ``oidc``: any OpenID Connect provider — ``PRESERVATION_OIDC_ISSUER`` (its discovery
  document is ``<issuer>/.well-known/openid-configuration``), ``PRESERVATION_OIDC_CLIENT_ID``,
  ``PRESERVATION_OIDC_CLIENT_SECRET``; the groups come from the ``groups`` claim;
* ``azure``: Microsoft Entra ID (Azure AD) — ``PRESERVATION_AZURE_TENANT_ID``,
  ``PRESERVATION_AZURE_CLIENT_ID``, ``PRESERVATION_AZURE_CLIENT_SECRET``; the groups come
  from the token's ``roles`` claim (app roles) unless ``PRESERVATION_AZURE_GROUPS_CLAIM``
  says ``groups``.

``PRESERVATION_SSO_ROLES`` maps a group to a role, as JSON
(``{"preservation-archivists": "Archivist", "preservation-operators": "Operator",
"preservation-admins": "Admin"}``); a user's roles are set from their groups at every
login, and a user in no mapped group gets ``PRESERVATION_SSO_DEFAULT_ROLE`` (``Public``:
nothing). The provider's redirect URI is
``<AIRFLOW__API__BASE_URL>/auth/oauth-authorized/<oidc|azure>``.
"""

from __future__ import annotations

import json
import os

from flask_appbuilder.const import AUTH_DB, AUTH_OAUTH

SSO = os.environ.get("PRESERVATION_SSO", "none").strip().lower() or "none"
WTF_CSRF_ENABLED = True
WTF_CSRF_TIME_LIMIT = None
AUTH_ROLE_PUBLIC = None  # nobody sees anything without logging in


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(f"PRESERVATION_SSO={SSO} needs {name} (in .env)")
    return value


def _groups_to_roles() -> dict[str, list[str]]:
    raw = os.environ.get("PRESERVATION_SSO_ROLES", "{}")
    try:
        mapping = json.loads(raw)
    except json.JSONDecodeError as error:
        raise RuntimeError(f"PRESERVATION_SSO_ROLES is not JSON: {error}") from None
    return {
        group: [role] if isinstance(role, str) else list(role) for group, role in mapping.items()
    }


if SSO == "none":
    AUTH_TYPE = AUTH_DB
elif SSO in ("oidc", "azure"):
    AUTH_TYPE = AUTH_OAUTH
    AUTH_USER_REGISTRATION = True
    AUTH_USER_REGISTRATION_ROLE = os.environ.get("PRESERVATION_SSO_DEFAULT_ROLE", "Public")
    AUTH_ROLES_MAPPING = _groups_to_roles()
    AUTH_ROLES_SYNC_AT_LOGIN = True
    if SSO == "oidc":
        issuer = _required("PRESERVATION_OIDC_ISSUER").rstrip("/")
        OAUTH_PROVIDERS = [
            {
                "name": "oidc",
                "icon": "fa-key",
                "token_key": "access_token",
                "remote_app": {
                    "client_id": _required("PRESERVATION_OIDC_CLIENT_ID"),
                    "client_secret": _required("PRESERVATION_OIDC_CLIENT_SECRET"),
                    "server_metadata_url": f"{issuer}/.well-known/openid-configuration",
                    "client_kwargs": {
                        "scope": os.environ.get(
                            "PRESERVATION_OIDC_SCOPE", "openid email profile groups"
                        )
                    },
                },
            }
        ]
    else:
        tenant = _required("PRESERVATION_AZURE_TENANT_ID")
        AUTH_OAUTH_ROLE_KEYS = {"azure": os.environ.get("PRESERVATION_AZURE_GROUPS_CLAIM", "roles")}
        OAUTH_PROVIDERS = [
            {
                "name": "azure",
                "icon": "fa-windows",
                "token_key": "access_token",
                "remote_app": {
                    "client_id": _required("PRESERVATION_AZURE_CLIENT_ID"),
                    "client_secret": _required("PRESERVATION_AZURE_CLIENT_SECRET"),
                    "api_base_url": f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/",
                    "access_token_url": (
                        f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
                    ),
                    "authorize_url": (
                        f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize"
                    ),
                    "server_metadata_url": (
                        f"https://login.microsoftonline.com/{tenant}/v2.0/"
                        ".well-known/openid-configuration"
                    ),
                    "client_kwargs": {"scope": "openid email profile"},
                },
            }
        ]
else:
    raise RuntimeError(f"PRESERVATION_SSO={SSO!r}: use none, oidc or azure")
