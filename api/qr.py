"""QR codes as PNG or SVG responses (the `qrcode` library)."""
import io

import qrcode
import qrcode.image.svg
from flask import Response

# M (15%) survives a scratched phone screen and still fits a short token in a small code.
ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M


def _code(text: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=ERROR_CORRECTION, box_size=10, border=4)
    code.add_data(text)
    code.make(fit=True)
    return code


def png_response(text: str) -> Response:
    buffer = io.BytesIO()
    _code(text).make_image().save(buffer, format="PNG")
    return Response(buffer.getvalue(), mimetype="image/png", headers={"Cache-Control": "private, no-store"})


def svg_response(text: str) -> Response:
    buffer = io.BytesIO()
    _code(text).make_image(image_factory=qrcode.image.svg.SvgPathImage).save(buffer)
    return Response(buffer.getvalue(), mimetype="image/svg+xml", headers={"Cache-Control": "private, no-store"})
