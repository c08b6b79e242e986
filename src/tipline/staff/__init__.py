"""The staff side: moderators triage tips and forward them to commune police units."""
