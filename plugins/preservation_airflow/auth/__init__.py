"""Who may log in and do what: FAB's configuration (webserver_config) and the roles (access)."""
