"""Webhook mode: one web application for Telegram's and Zalo's webhooks (``app``)."""
