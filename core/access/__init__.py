"""Who people are and what they may do: roles, accounts and people, credentials, the audit trail."""
