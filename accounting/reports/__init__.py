"""Reports drawn from the whole registry and the market (the public page's figures); read-only."""
