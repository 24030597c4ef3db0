"""The coupon side: merchants and their staff, campaigns, claims, QR codes, redemption."""
