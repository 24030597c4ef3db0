"""Every message comes from the Flask-Babel catalogues: each msgid in the code is in both
catalogues and translated into Chinese, each code the platform raises has its title and detail
in both languages, and marshmallow's messages, the console and the CLI speak the right one."""
import inspect
import re
import subprocess
import sys
from pathlib import Path

import marshmallow as ma
import pytest
import webargs.flaskparser
from babel.messages.pofile import read_po

from accounting.ledger.movement import REFUSALS
from api.locales import BABEL_LOCALES, TRANSLATIONS
from api.messages import FIELD_MESSAGES, LIBRARY_MESSAGES, PROBLEMS, field_message, title_and_detail
from api.problems import HTTP_CODES
from api.translated_validators import Length, OneOf, Range
from tests.console_support import signed_in, staff
from tests.support import ago, iso

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [path for package in ("accounting", "merchants", "api", "config") for path in (ROOT / package).rglob("*.py")]
CJK = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
EN, ZH = {"Accept-Language": "en"}, {"Accept-Language": "zh-CN"}


def catalogue(language: str):
    with open(TRANSLATIONS / BABEL_LOCALES[language] / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po)


def messages_of(catalog) -> dict:
    return {(message.context, message.id): message for message in catalog if message.id}


def codes_in_source(*patterns: str) -> set[str]:
    """The string literals the code passes where a code is expected (a scan, as a reviewer would grep)."""
    found = set()
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for pattern in patterns:
            found |= set(re.findall(pattern, text))
    return found


# --- the catalogues ----------------------------------------------------------------------------

def test_both_catalogues_hold_exactly_the_messages_the_code_uses_and_chinese_translates_each(tmp_path):
    """`pybabel extract` as the README runs it: a msgid added without `pybabel update` fails here."""
    template = tmp_path / "messages.pot"
    pybabel = Path(sys.executable).parent / "pybabel"
    subprocess.run([str(pybabel), "-q", "extract", "-F", "babel.cfg", "-o", str(template), "."],
                   cwd=ROOT, check=True)
    with open(template, "rb") as pot:
        extracted = set(messages_of(read_po(pot)))
    assert len(extracted) > 300

    chinese, english = messages_of(catalogue("zh-CN")), messages_of(catalogue("en"))
    assert set(chinese) == extracted, (extracted - set(chinese), set(chinese) - extracted)
    assert set(english) == extracted, (extracted - set(english), set(english) - extracted)
    untranslated = [key for key, message in chinese.items() if not message.string or message.fuzzy]
    assert untranslated == []
    assert all(CJK.search(message.string) for message in chinese.values())
    # msgids are English: the English catalogue adds nothing to them.
    assert [key for key, message in english.items() if message.string not in ("", key[1])] == []


def test_every_code_the_platform_raises_has_a_title_and_detail_in_both_languages(app):
    raised = codes_in_source(
        r'(?:DomainError|NotFound|Conflict|SourceAuthError|problem_response)\(\s*"([a-z_]+)"',
        r'Check\(\w+, False, "([a-z_]+)"\)',  # a coupon's verdict, shown to the cashier by its code
    ) | set(HTTP_CODES.values()) | set(REFUSALS)  # REFUSALS: what the ledger's SQL functions refuse with
    assert {"sold_out", "qr_invalid", "stale_timestamp", "coupon_expired", "token_expired", "nothing_to_move"} <= raised
    assert raised - set(PROBLEMS) == set()

    for code, problem in PROBLEMS.items():
        with app.test_request_context(headers=EN):
            params = {name: f"<{name}>" for name in PLACEHOLDER.findall(str(problem.detail))}
            english = title_and_detail(code, params)
        with app.test_request_context(headers=ZH):
            chinese = title_and_detail(code, params)
        assert not any(CJK.search(text) for text in english), (code, english)
        assert all(CJK.search(text) for text in chinese), (code, chinese)
        for name in params:  # each value lands in both languages
            assert f"<{name}>" in chinese[1] and f"<{name}>" in english[1], (code, name)


def test_every_field_code_reads_in_both_languages(app):
    raised = codes_in_source(
        r'errors\["\w+"\] = "([a-z_]+)"',  # event fields the recording refuses
        r'rejected\(\s*"([a-z_]+)"',  # quantification reasons
    )
    assert {"ends_before_start", "unknown_station", "source_not_approved"} <= raised
    assert raised - set(FIELD_MESSAGES) == set()
    for code in FIELD_MESSAGES:
        with app.test_request_context(headers=ZH):
            assert CJK.search(field_message(code)), code
        with app.test_request_context(headers=EN):
            assert not CJK.search(field_message(code)), code


def test_the_app_refuses_to_start_without_compiled_catalogues(monkeypatch, tmp_path):
    """Without its .mo a catalogue would be silently English; a stale .mo would serve old texts."""
    from api import locales

    messages = tmp_path / "zh_Hans_CN" / "LC_MESSAGES"
    messages.mkdir(parents=True)
    (messages / "messages.po").write_text('msgid ""\nmsgstr ""\n', encoding="utf-8")
    monkeypatch.setattr(locales, "TRANSLATIONS", tmp_path)
    with pytest.raises(RuntimeError, match="pybabel compile"):
        locales.init_translations(None)


def test_a_missing_detail_parameter_shows_its_name_and_never_raises(app):
    with app.test_request_context(headers=EN):
        assert title_and_detail("batch_not_in_state", {"actual": "issued"}) == (
            "Wrong batch status", "The batch is issued; this needs {expected}.")
        assert title_and_detail("over_limit") == ("Over the limit", "Each resident may claim at most {limit}.")
        assert title_and_detail("no_such_code") == ("Request failed", "The request could not be completed.")
    with app.test_request_context(headers=ZH):
        assert title_and_detail("batch_not_in_state", {"actual": "issued"})[1] == "该批次当前为 issued，此操作需要 {expected}。"
        assert title_and_detail("already_redeemed", {"merchant": "面馆", "at": "12:00"})[1] == \
            "这张优惠券已于 12:00 在 面馆 核销。"


# --- marshmallow's own messages ----------------------------------------------------------------

def _stock_messages() -> set[str]:
    """Every fixed message marshmallow's fields and schemas, and webargs, can give."""
    found = {"Unknown field.", "Invalid input type.", ma.validate.Regexp.default_message}
    for name in dir(ma.fields):
        field = getattr(ma.fields, name)
        if not (isinstance(field, type) and issubclass(field, ma.fields.Field)):
            continue
        for klass in field.__mro__:
            for text in getattr(klass, "default_error_messages", {}).values():
                try:
                    found.add(text.format(obj_type=getattr(field, "OBJ_TYPE", ""),
                                          awareness=getattr(field, "AWARENESS", "")))
                except KeyError:  # messages with the input in them are not fixed
                    pass
    if "Invalid JSON body." in inspect.getsource(webargs.flaskparser):
        found.add("Invalid JSON body.")
    return found


def test_the_library_messages_we_translate_are_the_libraries_own_words():
    assert set(LIBRARY_MESSAGES) - _stock_messages() == set()


@pytest.mark.parametrize("ours, stock, value", [
    (Range(1, 100), ma.validate.Range(1, 100), 0),
    (Range(1), ma.validate.Range(1), 0),
    (Range(max=5), ma.validate.Range(max=5), 6),
    (Length(1, 100), ma.validate.Length(1, 100), ""),
    (Length(min=1), ma.validate.Length(min=1), []),
    (Length(max=2), ma.validate.Length(max=2), "abc"),
    (Length(equal=2), ma.validate.Length(equal=2), "abc"),
    (OneOf(("bus", "metro")), ma.validate.OneOf(("bus", "metro")), "rocket"),
])
def test_translated_validators_say_in_english_exactly_what_marshmallow_says(app, ours, stock, value):
    with pytest.raises(ma.ValidationError) as theirs:
        stock(value)
    with app.test_request_context(headers=EN), pytest.raises(ma.ValidationError) as mine:
        ours(value)
    assert mine.value.messages == theirs.value.messages
    with app.test_request_context(headers=ZH), pytest.raises(ma.ValidationError) as chinese:
        ours(value)
    assert CJK.search(chinese.value.messages[0])


def test_field_errors_come_out_chinese_under_zh_cn_and_english_under_en(api, resident):
    sign_up = {"phone": "123", "password": "short", "display_name": "", "district": "nowhere", "age": 3}
    errors = {lang: api.http.post("/api/v1/auth/register", json=sign_up, headers=h).get_json()["errors"]
              for lang, h in (("en", EN), ("zh", ZH))}
    assert errors["en"] == {
        "phone": ["Not a mainland China mobile number."], "password": ["Length must be between 8 and 128."],
        "display_name": ["Length must be between 1 and 32."], "age": ["Unknown field."],
        "district": ["Must be one of: 滨城区, 沾化区, 惠民县, 阳信县, 无棣县, 博兴县, 邹平市, 滨州经济技术开发区, "
                     "滨州高新技术产业开发区, 北海经济开发区."]}
    assert errors["zh"] == {
        "phone": ["不是中国大陆手机号。"], "password": ["长度必须在 8 到 128 之间。"],
        "display_name": ["长度必须在 1 到 32 之间。"], "age": ["未知字段。"],
        "district": ["必须是以下之一：滨城区, 沾化区, 惠民县, 阳信县, 无棣县, 博兴县, 邹平市, 滨州经济技术开发区, "
                     "滨州高新技术产业开发区, 北海经济开发区。"]}

    transfer = {"to_account_number": resident.account_number, "amount_g": 0, "memo": "x" * 201}
    answers = {lang: api.http.post("/api/v1/transfers", json=transfer, headers=resident.auth(**h))
               for lang, h in (("en", EN), ("zh", ZH))}
    assert answers["en"].status_code == answers["zh"].status_code == 422
    assert answers["en"].get_json()["errors"] == {
        "amount_g": ["Must be greater than or equal to 1 and less than or equal to 1000000000000."],
        "memo": ["Longer than maximum length 200."]}
    assert answers["zh"].get_json()["errors"] == {
        "amount_g": ["必须大于或等于 1 且小于或等于 1000000000000。"], "memo": ["长度不能超过 200。"]}
    assert (answers["en"].headers["Content-Language"], answers["zh"].headers["Content-Language"]) == ("en", "zh-CN")

    page = {lang: api.http.get("/api/v1/me/events?limit=abc&cursor=zz", headers=resident.auth(**h)).get_json()
            for lang, h in (("en", EN), ("zh", ZH))}
    assert page["en"]["errors"] == {"limit": ["Not a valid integer."], "cursor": ["Not a valid cursor."]}
    assert page["zh"]["errors"] == {"limit": ["不是有效的整数。"], "cursor": ["分页游标无效。"]}


def test_our_own_event_checks_speak_the_clients_language(api, resident):
    bus_in_steps = {"mode": "bus", "started_at": iso(ago(hours=2)), "ended_at": iso(ago(hours=1)),
                      "distance_m": 5000, "steps": 300}
    english = api.http.post("/api/v1/me/trips", json=bus_in_steps, headers=resident.auth(**EN)).get_json()
    chinese = api.http.post("/api/v1/me/trips", json=bus_in_steps, headers=resident.auth(**ZH)).get_json()
    assert english["errors"] == {"steps": ["Only walks are counted in steps."]}
    assert chinese["errors"] == {"steps": ["只有步行按步数计。"]}


# --- the console and the CLI -------------------------------------------------------------------

def test_the_console_switches_language_for_pages_flashes_and_refusals(app, api):
    staff(app, "13900000001")
    console = signed_in(app, "13900000001")
    queues = console.page("/console/queues")
    assert all(text in queues for text in ("没有待批版本。", "没有待批批次。", "没有待审商户。", "执照"))
    resident = api.register()
    page = f"/console/accounts/{resident.account_number}"
    assert console.submit(f"{page}/freeze", page, reason="check")[1] == [("ok", "账户已冻结。")]
    assert console.submit(f"{page}/freeze", page, reason="again")[1] == [
        ("error", "账户已冻结: 该账户已被冻结，暂不能转移碳减排量。")]

    console.http.get("/console/lang/en")
    queues = console.page("/console/queues")
    assert queues.count("Nothing waiting.") == 3 and "Licence" in queues and "待审批" not in queues
    assert console.submit(f"{page}/unfreeze", page, reason="ok")[1] == [("ok", "Account unfrozen.")]
    assert console.submit(f"{page}/unfreeze", page, reason="again")[1] == [
        ("error", "Account not frozen: The account is not frozen.")]
    # The console's choice is its own: the API beside it still follows Accept-Language.
    assert console.http.get("/nope").get_json()["title"] == "未找到"


def test_the_cli_reports_a_refusal_in_english(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["sources", "create", "--code", "BZI18N", "--kind", "transit"]).exit_code == 0
    again = runner.invoke(args=["sources", "create", "--code", "BZI18N", "--kind", "transit"])
    assert again.exit_code != 0 and "source_exists: Data source BZI18N is filed already." in again.output
