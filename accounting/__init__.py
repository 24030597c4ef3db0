"""The accounting service: holders and accounts, data sources, the green-action record."""
