"""The citizen side: the guided report, receipts, follow-ups and opt-in news, whatever the channel."""
