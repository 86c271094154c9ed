"""Chat front doors: Slack (slack-bolt) and Telegram (python-telegram-bot) handlers, added by the chat issues."""
