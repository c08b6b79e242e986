"""Everything the bot sends goes through here: the channel port, direct replies and the outbox worker."""
