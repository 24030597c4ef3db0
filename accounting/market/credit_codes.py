"""统一社会信用代码 (GB 32100-2015): 18 characters whose last is a check character."""
CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28


def check_character(first_17: str) -> str:
    remainder = sum(CHARSET.index(c) * w for c, w in zip(first_17, WEIGHTS, strict=True)) % 31
    return CHARSET[(31 - remainder) % 31]


def is_valid_credit_code(code: str) -> bool:
    """Eighteen characters of the charset whose 18th is the check character of the first 17."""
    if not isinstance(code, str) or len(code) != 18 or any(c not in CHARSET for c in code):
        return False
    return check_character(code[:17]) == code[17]
