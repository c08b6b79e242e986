"""Fixed facts the bot tells citizens. Sources: see locales and README (VIETNAM.md facts)."""

from __future__ import annotations

EMERGENCY_NUMBER = "113"
# Ambulance: poisoning, seizures, unconsciousness (common with laughing gas and synthetic drugs).
AMBULANCE_NUMBER = "115"
# Drug-crime tip line of the Ministry of Public Security's drug police (C04): calls, SMS, Zalo, 24/7.
C04_HOTLINE = "0769.04.04.04"
CHILD_PROTECTION_NUMBER = "111"
AMBULANCE_NUMBER = "115"  # poisoning, seizures, unconsciousness

# Limits stated to citizens.
DESCRIPTION_MAX_CHARS = 3000
DESCRIPTION_MIN_CHARS = 10
ADDRESS_MAX_CHARS = 300
EVIDENCE_MAX_ITEMS = 10
# The Bot API lets bots fetch files up to 20 MB; larger files could never be re-sent to moderators.
EVIDENCE_MAX_BYTES = 20 * 1024 * 1024
FOLLOWUP_MAX_CHARS = 3000
DRAFT_IDLE_HOURS = 24
