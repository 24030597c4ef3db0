"""Who acts: sign-in credentials, tokens and roles, mapped to the holder they act for."""
