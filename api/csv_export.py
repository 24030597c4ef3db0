"""CSV downloads (statements, console exports): one writer, safe to open in a spreadsheet.

A cell a spreadsheet would read as a formula (it begins with =, +, -, @, a tab or a carriage
return) is neutralised with a leading apostrophe, OWASP's rule for CSV injection; plain numbers,
negative amounts included, stay numbers. A BOM first, so spreadsheet apps read Chinese right.
"""
import csv
import io
import re

from flask import Response

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def neutralised(cell):
    """The cell as written: a string that a spreadsheet would take as a formula gets a leading '."""
    if isinstance(cell, str) and cell.startswith(FORMULA_START) and not PLAIN_NUMBER.match(cell):
        return "'" + cell
    return cell


def csv_text(header: list[str], rows, footer: list[list] = ()) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralised(cell) for cell in row])
    for row in footer:
        writer.writerow([neutralised(cell) for cell in row])
    return "\ufeff" + buffer.getvalue()


def csv_download(filename: str, header: list[str], rows, footer: list[list] = ()) -> Response:
    return Response(csv_text(header, rows, footer), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
