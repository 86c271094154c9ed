"""The Telegram bot: python-telegram-bot's Application behind a webhook, on the chat core (docs/telegram.md)."""
