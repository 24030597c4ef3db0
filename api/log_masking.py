"""Phone numbers never reach a log line whole (PIPL): 13812345678 → 138****5678."""
import logging
import re

# Also with the country code (+86, 0086, 86) written before it, as in E.164 "+8613812345678".
PHONE_IN_TEXT = re.compile(r"(?<!\d)((?:\+86|0086|86)?1[3-9]\d)\d{4}(\d{4})(?!\d)")


def mask_phones(text: str) -> str:
    return PHONE_IN_TEXT.sub(r"\1****\2", text)


class PhoneMaskingFilter(logging.Filter):
    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phones(message)
        if masked != message:
            record.msg, record.args = masked, None
        # A traceback carries exception messages and SQL parameters (a login's phone, say):
        # format it here, masked, so the handler's formatter prints this text instead.
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_phones(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_phones(record.stack_info)
        return True


def install_phone_masking(*loggers: logging.Logger) -> None:
    """Mask on every handler of the root logger (werkzeug's and gunicorn's included) and `loggers`."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    watched = [root, logging.getLogger("gunicorn.error"), logging.getLogger("gunicorn.access"), *loggers]
    for handler in (handler for logger in watched for handler in logger.handlers):
        if not any(isinstance(f, PhoneMaskingFilter) for f in handler.filters):
            handler.addFilter(PhoneMaskingFilter())
