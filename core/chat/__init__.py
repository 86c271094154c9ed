"""The chat core shared by Slack and Telegram: who typed (linked identities), for which venue, and the use-cases
only chat needs (link codes, alert settings, scheduling from a phrase); every other action is the API's core call."""
