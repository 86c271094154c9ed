"""The Slack twin: Slack's Web API, OAuth v2, upload URLs and response_urls on loopback (sandbox.slack.twin)."""
