"""The Slack front door: Block Kit rendering, and (issue 13) the Bolt app mounted at /slack/events."""
