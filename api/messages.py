"""Every refusal the platform can give, by stable code, in Chinese and English.

A code maps to an HTTP status and a title/detail pair per language; `{name}` fields
in a detail are filled from the error's parameters.
"""
from flask import request

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"

# code: (status, {lang: (title, detail)})
CATALOGUE: dict[str, tuple[int, dict[str, tuple[str, str]]]] = {
    "validation_failed": (422, {
        "zh-CN": ("请求数据有误", "请检查标出的字段。"),
        "en": ("Invalid request", "Check the fields listed in errors."),
    }),
    "bad_request": (400, {
        "zh-CN": ("请求格式错误", "请求无法解析，请发送有效的 JSON。"),
        "en": ("Bad request", "The request could not be parsed; send valid JSON."),
    }),
    "not_found": (404, {
        "zh-CN": ("未找到", "请求的资源不存在。"),
        "en": ("Not found", "The requested resource does not exist."),
    }),
    "method_not_allowed": (405, {
        "zh-CN": ("方法不允许", "该地址不支持此请求方法。"),
        "en": ("Method not allowed", "This path does not accept that method."),
    }),
    "payload_too_large": (413, {
        "zh-CN": ("请求体过大", "请求体超过了允许的大小。"),
        "en": ("Payload too large", "The request body exceeds the allowed size."),
    }),
    "unsupported_media_type": (415, {
        "zh-CN": ("不支持的内容类型", "请以 application/json 发送请求体。"),
        "en": ("Unsupported media type", "Send the body as application/json."),
    }),
    "rate_limited": (429, {
        "zh-CN": ("请求过于频繁", "请稍后再试。"),
        "en": ("Too many requests", "Slow down and try again later."),
    }),
    "internal_error": (500, {
        "zh-CN": ("服务器内部错误", "出现了意外错误，已记录，请稍后重试。"),
        "en": ("Internal error", "Something unexpected happened; it was logged. Try again later."),
    }),
    "http_error": (400, {
        "zh-CN": ("请求失败", "请求无法完成。"),
        "en": ("Request failed", "The request could not be completed."),
    }),
    # identity
    "unauthorized": (401, {
        "zh-CN": ("未登录", "请先登录。"),
        "en": ("Not signed in", "Sign in first."),
    }),
    "token_invalid": (401, {
        "zh-CN": ("令牌无效", "登录令牌无效，请重新登录。"),
        "en": ("Invalid token", "The token is not valid; sign in again."),
    }),
    "token_expired": (401, {
        "zh-CN": ("令牌已过期", "登录已过期，请刷新或重新登录。"),
        "en": ("Token expired", "The token has expired; refresh it or sign in again."),
    }),
    "token_revoked": (401, {
        "zh-CN": ("令牌已注销", "您已退出登录，请重新登录。"),
        "en": ("Token revoked", "This session has been signed out; sign in again."),
    }),
    "wrong_token_type": (401, {
        "zh-CN": ("令牌类型错误", "此处需要{expected}令牌。"),
        "en": ("Wrong token type", "This endpoint needs a {expected} token."),
    }),
    "bad_credentials": (401, {
        "zh-CN": ("手机号或密码错误", "手机号或密码不正确。"),
        "en": ("Wrong phone or password", "The phone number or password is not correct."),
    }),
    "phone_taken": (409, {
        "zh-CN": ("手机号已注册", "该手机号已注册，请直接登录。"),
        "en": ("Phone already registered", "This phone number is registered already; sign in instead."),
    }),
    "forbidden_role": (403, {
        "zh-CN": ("无权操作", "您的角色不能执行此操作。"),
        "en": ("Not allowed", "Your role may not do this."),
    }),
    # idempotency
    "idempotency_key_reused": (422, {
        "zh-CN": ("幂等键已被使用", "该 Idempotency-Key 已用于另一个请求。"),
        "en": ("Idempotency key reused", "This Idempotency-Key was used with a different request."),
    }),
    # accounts and sources
    "account_not_found": (404, {
        "zh-CN": ("账户不存在", "未找到该碳账户。"),
        "en": ("Account not found", "No such carbon account."),
    }),
    "source_not_found": (404, {
        "zh-CN": ("数据源不存在", "未找到数据源 {code}。"),
        "en": ("Data source not found", "No data source {code}."),
    }),
    "authorization_not_found": (404, {
        "zh-CN": ("未授权该数据源", "您尚未授权数据源 {code}。"),
        "en": ("Not authorized", "You have not authorized data source {code}."),
    }),
    "source_exists": (409, {
        "zh-CN": ("数据源已存在", "数据源 {code} 已备案。"),
        "en": ("Source exists", "Data source {code} is filed already."),
    }),
    "station_exists": (409, {
        "zh-CN": ("站点已存在", "站点 {code} 已备案。"),
        "en": ("Station exists", "Station {code} is filed already."),
    }),
    "unknown_source_kind": (422, {
        "zh-CN": ("数据源类型无效", "不支持的数据源类型 {kind}。"),
        "en": ("Unknown source kind", "Source kind {kind} is not supported."),
    }),
    # signed source requests
    "missing_signature_headers": (401, {
        "zh-CN": ("缺少签名", "请提供 X-Source-Key、X-Timestamp 和 X-Signature 请求头。"),
        "en": ("Signature missing", "Send the X-Source-Key, X-Timestamp and X-Signature headers."),
    }),
    "bad_timestamp": (401, {
        "zh-CN": ("时间戳无效", "X-Timestamp 必须是 Unix 秒数。"),
        "en": ("Bad timestamp", "X-Timestamp must be Unix seconds."),
    }),
    "stale_timestamp": (401, {
        "zh-CN": ("请求已过期", "请求时间与服务器相差超过 {max_age_seconds} 秒。"),
        "en": ("Stale request", "The request time is more than {max_age_seconds} s from the server's."),
    }),
    "bad_signature": (401, {
        "zh-CN": ("签名无效", "密钥或签名不正确。"),
        "en": ("Bad signature", "The key or the signature is not correct."),
    }),
    "replayed_request": (401, {
        "zh-CN": ("重复请求", "该签名已被使用过，请重新签名后发送。"),
        "en": ("Replayed request", "This signature was seen before; sign the request anew."),
    }),
    "source_suspended": (401, {
        "zh-CN": ("数据源已暂停", "数据源 {code} 已被暂停。"),
        "en": ("Source suspended", "Data source {code} is suspended."),
    }),
    "too_many_events": (422, {
        "zh-CN": ("事件过多", "每次最多提交 {limit} 条事件。"),
        "en": ("Too many events", "Send at most {limit} events per request."),
    }),
    # methodologies (备案)
    "methodology_not_found": (404, {
        "zh-CN": ("方法学不存在", "未找到该方法学。"),
        "en": ("Methodology not found", "No such methodology."),
    }),
    "methodology_version_not_found": (404, {
        "zh-CN": ("方法学版本不存在", "未找到该方法学版本。"),
        "en": ("Version not found", "No such methodology version."),
    }),
    "methodology_exists": (409, {
        "zh-CN": ("方法学已存在", "方法学 {code} 已备案。"),
        "en": ("Methodology exists", "Methodology {code} is filed already."),
    }),
    "version_not_in_state": (409, {
        "zh-CN": ("版本状态不符", "该版本当前为 {actual}，此操作需要 {expected}。"),
        "en": ("Wrong version status", "The version is {actual}; this needs {expected}."),
    }),
    "approver_is_filer": (409, {
        "zh-CN": ("需由他人审批", "备案人不能审批自己提交的版本，请由另一位审核员审批。"),
        "en": ("Four eyes required", "Whoever filed a version may not approve it; another auditor must."),
    }),
    "invalid_effective_range": (422, {
        "zh-CN": ("生效期无效", "失效时间必须晚于生效时间。"),
        "en": ("Invalid effective range", "effective_to must be after effective_from."),
    }),
    # registry
    "insufficient_balance": (422, {
        "zh-CN": ("余额不足", "账户余额不足以完成此操作。"),
        "en": ("Insufficient balance", "The account does not hold enough credits for this."),
    }),
    "invalid_amount": (422, {
        "zh-CN": ("数量无效", "数量必须是正整数（克）。"),
        "en": ("Invalid amount", "The amount must be a positive whole number of grams."),
    }),
    "same_account": (422, {
        "zh-CN": ("不能转给自己", "转出和转入账户相同。"),
        "en": ("Same account", "Sender and receiver are the same account."),
    }),
    "account_frozen": (409, {
        "zh-CN": ("账户已冻结", "该账户已被冻结，暂不能转移碳减排量。"),
        "en": ("Account frozen", "The account is frozen; its credits cannot move."),
    }),
    "account_not_frozen": (409, {
        "zh-CN": ("账户未冻结", "该账户没有被冻结。"),
        "en": ("Account not frozen", "The account is not frozen."),
    }),
    "no_account": (403, {
        "zh-CN": ("没有碳账户", "您的角色不持有碳账户。"),
        "en": ("No account", "Your role holds no carbon account."),
    }),
    "serial_not_found": (404, {
        "zh-CN": ("序列号不存在", "未找到该序列号的碳减排量。"),
        "en": ("Serial not found", "No issued unit has this serial number."),
    }),
    "retirement_not_found": (404, {
        "zh-CN": ("注销记录不存在", "未找到该注销编号。"),
        "en": ("Retirement not found", "No retirement has this number."),
    }),
    "batch_not_found": (404, {
        "zh-CN": ("签发批次不存在", "未找到该签发批次。"),
        "en": ("Batch not found", "No such issuance batch."),
    }),
    "batch_not_in_state": (409, {
        "zh-CN": ("批次状态不符", "该批次当前为 {actual}，此操作需要 {expected}。"),
        "en": ("Wrong batch status", "The batch is {actual}; this needs {expected}."),
    }),
    "approver_is_proposer": (409, {
        "zh-CN": ("需由他人审批", "提议人不能审批自己提议的批次。"),
        "en": ("Four eyes required", "Whoever proposed a batch may not approve it."),
    }),
    "batch_issued_elsewhere": (409, {
        "zh-CN": ("批次已签发", "该批次已由其他进程签发。"),
        "en": ("Batch issued elsewhere", "Another process issued this batch."),
    }),
    # merchants and coupons (价值兑现)
    "merchant_not_found": (404, {
        "zh-CN": ("商户不存在", "未找到该商户。"), "en": ("Merchant not found", "No such merchant."),
    }),
    "merchant_not_in_state": (409, {
        "zh-CN": ("商户状态不符", "该商户当前为 {actual}，此操作需要 {expected}。"),
        "en": ("Wrong merchant status", "The merchant is {actual}; this needs {expected}."),
    }),
    "merchant_not_approved": (409, {
        "zh-CN": ("商户未获批准", "商户获批后才能发布或兑付优惠券。"),
        "en": ("Merchant not approved", "Only an approved merchant can publish or redeem coupons."),
    }),
    "no_merchant": (403, {
        "zh-CN": ("未关联商户", "您的账号尚未关联任何商户。"),
        "en": ("No merchant", "Your account belongs to no merchant."),
    }),
    "already_member": (409, {
        "zh-CN": ("已关联商户", "您的账号已关联一个商户。"),
        "en": ("Already with a merchant", "Your account already belongs to a merchant."),
    }),
    "campaign_not_found": (404, {
        "zh-CN": ("活动不存在", "未找到该优惠活动。"), "en": ("Campaign not found", "No such campaign."),
    }),
    "campaign_not_in_state": (409, {
        "zh-CN": ("活动状态不符", "该活动当前为 {actual}，此操作需要 {expected}。"),
        "en": ("Wrong campaign status", "The campaign is {actual}; this needs {expected}."),
    }),
    "campaign_not_open": (409, {
        "zh-CN": ("活动未开放", "该活动当前不可领取。"),
        "en": ("Campaign not open", "This campaign cannot be claimed now."),
    }),
    "invalid_validity": (422, {
        "zh-CN": ("有效期无效", "结束时间必须晚于开始时间。"),
        "en": ("Invalid validity", "valid_until must be after valid_from."),
    }),
    "sold_out": (409, {
        "zh-CN": ("已领完", "该优惠券已被领完。"), "en": ("Sold out", "No coupons of this campaign are left."),
    }),
    "over_limit": (409, {
        "zh-CN": ("超过领取上限", "每人最多领取 {limit} 张。"),
        "en": ("Over the limit", "Each resident may claim at most {limit}."),
    }),
    "coupon_not_found": (404, {
        "zh-CN": ("优惠券不存在", "未找到该优惠券。"), "en": ("Coupon not found", "No such coupon."),
    }),
    "coupon_of_another_merchant": (403, {
        "zh-CN": ("非本店优惠券", "这张优惠券属于其他商户，不能在本店核销。"),
        "en": ("Another shop's coupon", "This coupon belongs to another merchant and cannot be redeemed here."),
    }),
    "already_redeemed": (409, {
        "zh-CN": ("已核销", "这张优惠券已于 {at} 在 {merchant} 核销。"),
        "en": ("Already redeemed", "This coupon was redeemed at {merchant} on {at}."),
    }),
    "coupon_expired": (409, {
        "zh-CN": ("优惠券已过期", "这张优惠券已过期，碳减排量已退回居民账户。"),
        "en": ("Coupon expired", "This coupon has expired; its credits go back to the resident."),
    }),
    "qr_invalid": (422, {
        "zh-CN": ("二维码无效", "二维码无法识别或已被篡改。"),
        "en": ("Invalid QR code", "The QR code is not one of ours or was altered."),
    }),
    "qr_expired": (422, {
        "zh-CN": ("二维码已过期", "请让顾客在 App 中刷新二维码后再扫。"),
        "en": ("QR code expired", "Ask the customer to refresh the code in the app and scan again."),
    }),
    # events
    "invalid_event": (422, {
        "zh-CN": ("行为数据有误", "请检查标出的字段。"),
        "en": ("Invalid green action", "Check the fields listed in errors."),
    }),
    "external_id_taken": (409, {
        "zh-CN": ("编号已被使用", "该 external_id 已用于其他记录。"),
        "en": ("External id taken", "This external_id is in use by another record."),
    }),
}

# Per-field codes in `errors` (events, sign-up): just a message per language.
FIELD_MESSAGES: dict[str, dict[str, str]] = {
    "ends_before_start": {"zh-CN": "结束时间早于开始时间。", "en": "Ends before it starts."},
    "lasts_over_a_day": {"zh-CN": "行程时长超过 24 小时。", "en": "Lasts more than 24 hours."},
    "outside_claim_window": {"zh-CN": "超过 7 天申报期限。", "en": "Older than the 7-day claim window."},
    "in_future": {"zh-CN": "时间在未来。", "en": "Lies in the future."},
    "unknown_account": {"zh-CN": "碳账户不存在。", "en": "No such carbon account."},
    "source_not_authorized": {
        "zh-CN": "该居民未授权此数据源。", "en": "The resident has not authorized this source.",
    },
    "unknown_station": {"zh-CN": "站点未在该数据源下备案。", "en": "No such station filed under this source."},
    # quantification (核算) reasons
    "too_fast": {"zh-CN": "速度超出该出行方式的合理范围。", "en": "Faster than this mode of travel allows."},
    "trip_too_short": {"zh-CN": "行程过短，未达到最低里程（步数）。", "en": "Shorter than the minimum trip."},
    "trip_too_long": {"zh-CN": "单次行程超过最大里程（步数）。", "en": "Longer than the maximum single trip."},
    "overlapping_trip": {
        "zh-CN": "与您同一时段的另一次出行重叠。", "en": "Overlaps another of your trips in time.",
    },
    "duplicate_claim": {
        "zh-CN": "同一行程已由其他来源申报。", "en": "The same trip was already claimed by another report.",
    },
    "source_not_approved": {"zh-CN": "数据源未获批准。", "en": "The data source is not approved."},
    "no_methodology_in_force": {
        "zh-CN": "行为发生时没有生效的已批准方法学。", "en": "No approved methodology was in force at the time.",
    },
}

# marshmallow's own messages, so a Chinese client reads Chinese field errors too.
MARSHMALLOW_ZH = {
    "Missing data for required field.": "缺少必填字段。",
    "Not a valid integer.": "不是有效的整数。",
    "Not a valid string.": "不是有效的字符串。",
    "Not a valid datetime.": "不是有效的日期时间。",
    "Not a valid aware datetime.": "日期时间须带时区偏移（如 +08:00）。",
    "Not a valid list.": "不是有效的列表。",
    "Invalid input type.": "输入类型无效。",
    "Unknown field.": "未知字段。",
    "Invalid value.": "值无效。",
    "Field may not be null.": "字段不能为空。",
    "Invalid JSON body.": "JSON 格式错误。",
}


def language() -> str:
    """The language the client asked for (Accept-Language), Chinese by default."""
    if not request:
        return DEFAULT_LANGUAGE
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"], default=DEFAULT_LANGUAGE)
    return "en" if best == "en" else "zh-CN"


def status_of(code: str) -> int:
    return CATALOGUE.get(code, CATALOGUE["http_error"])[0]


def title_and_detail(code: str, params: dict | None = None, lang: str | None = None) -> tuple[str, str]:
    lang = lang or language()
    _, texts = CATALOGUE.get(code, CATALOGUE["http_error"])
    title, detail = texts[lang]
    try:
        detail = detail.format(**(params or {}))
    except (KeyError, IndexError):
        pass
    return title, detail


def field_message(code_or_text: str, lang: str | None = None) -> str:
    """A field error in the client's language: a known code, or marshmallow's English."""
    lang = lang or language()
    if code_or_text in FIELD_MESSAGES:
        return FIELD_MESSAGES[code_or_text][lang]
    if lang == "zh-CN":
        return MARSHMALLOW_ZH.get(code_or_text, code_or_text)
    return code_or_text


def localize_errors(errors):
    """Translate a marshmallow-shaped error tree (dicts of lists of messages)."""
    if isinstance(errors, dict):
        return {key: localize_errors(value) for key, value in errors.items()}
    if isinstance(errors, list):
        return [localize_errors(item) for item in errors]
    if isinstance(errors, str):
        return field_message(errors)
    return errors
