"""Door-to-door card issuance (上门办卡) for people aged 80+, disabled, or ill: requests, assignment
to branch staff, visits, completion with the card issued and activated on the spot."""
