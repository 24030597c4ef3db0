"""Serial numbers (DOMAIN.md §5), built and parsed here and nowhere else.

A batch's prefix is `BZ-{methodology code}{version}-{vintage YYYYMMDD}-{batch no}`; a range of
its units is `{prefix}-{first:09d}-{last:09d}` and one unit `{prefix}-{number:09d}`, e.g.
`BZ-TRIP1-20261123-0007-000000001-000000468` = 468 units. The ledger's server-side function
`ledger_serials(prefix, first, last)` writes ranges into the audit log the same way (a test
holds the two to one format).
"""
import re
from dataclasses import dataclass
from datetime import date

DIGITS = 9
PREFIX = re.compile(r"^BZ-[A-Z0-9]+-\d{8}-\d{4}$")
UNIT = re.compile(r"^(BZ-[A-Z0-9]+-\d{8}-\d{4})-(\d{9})$")


def batch_prefix(methodology_code: str, version: int, vintage: date, batch_no: int) -> str:
    return f"BZ-{methodology_code}{version}-{vintage:%Y%m%d}-{batch_no:04d}"


def serial_range(prefix: str, first: int, last: int) -> str:
    return f"{prefix}-{first:0{DIGITS}d}-{last:0{DIGITS}d}"


def parse_unit(serial: str) -> tuple[str, int] | None:
    """(batch prefix, unit number) of one unit's serial, or None if it is not one."""
    match = UNIT.match(serial or "")
    return (match.group(1), int(match.group(2))) if match else None


@dataclass(frozen=True)
class MovedRange:
    """Units first..last of a batch that moved as one block."""

    block_id: int
    serial_prefix: str
    first: int
    last: int

    @property
    def serials(self) -> str:
        return serial_range(self.serial_prefix, self.first, self.last)

    @property
    def units(self) -> int:
        return self.last - self.first + 1
