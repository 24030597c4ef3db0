"""Retirement certificates as SVG: text renders in the reader's own CJK fonts, and the QR
code points at the public record anyone can check."""
import io
import re
from xml.sax.saxutils import escape

import qrcode
import qrcode.image.svg
from flask import Response

from api.schemas_common import SHANGHAI

# What XML 1.0 cannot hold at all (control characters, lone surrogates, U+FFFE/U+FFFF): dropped, so
# the certificate stays a well-formed document whatever text was accepted into it.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """`text` as XML character data."""
    return escape(NOT_XML.sub("", text))


def _qr_path(text: str) -> str:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=4, border=0)
    code.add_data(text)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image(image_factory=qrcode.image.svg.SvgPathImage).save(buffer)
    svg = buffer.getvalue().decode()
    start = svg.index("<path")
    return svg[start:svg.index("/>", start) + 2]


def retirement_certificate_svg(view: dict, check_url: str) -> Response:
    lines = [
        ("滨州市碳普惠 · 碳减排量注销证明", 30, "bold"),
        ("Binzhou Carbon Inclusion · Certificate of Retirement", 18, "normal"),
        (f"编号 No.  {view['number']}", 18, "normal"),
        (f"注销量 Amount  {view['amount_g'] / 1000:.3f} kg CO2e ({view['amount_g']} g)", 18, "normal"),
        (f"受益方 Beneficiary  {view['beneficiary']}", 18, "normal"),
        (f"用途 Purpose  {view['purpose']}", 18, "normal"),
        (f"日期 Date  {view['created_at'].astimezone(SHANGHAI):%Y-%m-%d %H:%M} (Asia/Shanghai)", 18, "normal"),
        ("序列号 Serials", 16, "bold"),
        *[(serial, 14, "normal") for serial in view["serials"][:12]],
        *([(f"… {len(view['serials']) - 12} more", 14, "normal")] if len(view["serials"]) > 12 else []),
        (f"核验 Verify: {check_url}", 13, "normal"),
    ]
    y, texts = 60, []
    for text, size, weight in lines:
        texts.append(f'<text x="40" y="{y}" font-size="{size}" font-weight="{weight}">{xml_text(text)}</text>')
        y += size + 16
    height = max(y + 20, 420)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="900" height="{height}" viewBox="0 0 900 {height}" '
        'font-family="Noto Sans CJK SC, Microsoft YaHei, PingFang SC, sans-serif">'
        f'<rect width="900" height="{height}" fill="#fbfdf8" stroke="#2e7d32" stroke-width="6"/>'
        + "".join(texts)
        + f'<g transform="translate(700 200)" fill="#000">{_qr_path(check_url)}</g></svg>'
    )
    return Response(svg, mimetype="image/svg+xml")
