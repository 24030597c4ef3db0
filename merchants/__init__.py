"""Merchants and coupons (价值兑现, 消纳): credits become discounts; merchants absorb and retire them."""
