"""EMIS connections' API (/api/v1/connections/): status only, never the
endpoint details or credentials."""
