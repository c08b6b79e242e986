"""The Telegram channel: python-telegram-bot updates in, Bot API calls out."""
