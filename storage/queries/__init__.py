"""All SQL lives here: small functions taking a session and, for tenant data, the account id."""
