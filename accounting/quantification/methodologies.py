"""Filing methodologies (备案): versions go draft → filed → approved → retired.

An approved version is never edited: a change is a new version, and results already
computed keep the version that produced them.
"""
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, insert, select

from accounting.business_day import ClaimWindow, claim_window
from accounting.errors import Conflict, DomainError, NotFound
from accounting.ledger import audit
from accounting.quantification.defaults import DEFAULT_METHODOLOGIES
from accounting.quantification.models import Methodology, MethodologyVersion
from config.db_types import utcnow
from config.extensions import db

# Version 1 of the defaults is in force from the platform's start (Asia/Shanghai midnight).
DEFAULTS_EFFECTIVE_FROM = datetime.fromisoformat("2026-01-01T00:00:00+08:00")


def seed_default_methodologies(connection) -> int:
    """File and approve Binzhou's default version 1 where missing; returns how many were added.

    Takes a Core connection so the migration that ships them can call it too.
    """
    methodologies, versions = Methodology.__table__, MethodologyVersion.__table__
    added = 0
    for default in DEFAULT_METHODOLOGIES:
        methodology_id = connection.execute(
            select(methodologies.c.id).where(methodologies.c.code == default["code"])).scalar()
        if methodology_id is None:
            methodology_id = connection.execute(insert(methodologies).values(
                code=default["code"], kind=default["kind"], name=default["name"], created_at=utcnow(),
            ).returning(methodologies.c.id)).scalar()
        exists = connection.execute(select(versions.c.id).where(
            versions.c.methodology_id == methodology_id, versions.c.version == 1)).scalar()
        if exists is None:
            now = utcnow()
            connection.execute(insert(versions).values(
                methodology_id=methodology_id, version=1, status="approved",
                parameters=default["parameters"], sources=default["sources"],
                effective_from=DEFAULTS_EFFECTIVE_FROM, created_at=now, filed_at=now, approved_at=now,
                approval_note="Binzhou default version 1, shipped with the platform (DOMAIN.md §3)",
            ))
            added += 1
    if added:
        forget_kept_versions()
    return added


def all_methodologies() -> list[Methodology]:
    return list(db.session.scalars(select(Methodology).order_by(Methodology.code)))


def methodology(methodology_id: int) -> Methodology:
    found = db.session.get(Methodology, methodology_id)
    if found is None:
        raise NotFound("methodology_not_found")
    return found


def create_methodology(code: str, kind: str, name: str, description: str | None) -> Methodology:
    if db.session.scalar(select(Methodology.id).where(Methodology.code == code)):
        raise Conflict("methodology_exists", code=code)
    created = Methodology(code=code, kind=kind, name=name, description=description)
    db.session.add(created)
    db.session.flush()
    return created


def draft_version(methodology_id: int, parameters: dict, sources: dict, effective_from: datetime,
                  effective_to: datetime | None, actor_id: int) -> MethodologyVersion:
    """A new draft, numbered after the last version."""
    owner = methodology(methodology_id)
    if effective_to is not None and effective_to <= effective_from:
        raise DomainError("invalid_effective_range")
    last = db.session.scalar(select(func.max(MethodologyVersion.version))
                             .where(MethodologyVersion.methodology_id == owner.id)) or 0
    version = MethodologyVersion(
        methodology_id=owner.id, version=last + 1, status="draft", parameters=parameters, sources=sources,
        effective_from=effective_from, effective_to=effective_to, created_by=actor_id,
    )
    db.session.add(version)
    db.session.flush()
    return version


def version_of(methodology_id: int, number: int, *, lock: bool = False) -> MethodologyVersion:
    query = select(MethodologyVersion).where(
        MethodologyVersion.methodology_id == methodology_id, MethodologyVersion.version == number)
    found = db.session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound("methodology_version_not_found")
    return found


def file_version(methodology_id: int, number: int, actor_id: int) -> MethodologyVersion:
    """Submit a draft for approval (备案)."""
    version = version_of(methodology_id, number, lock=True)
    if version.status != "draft":
        raise Conflict("version_not_in_state", expected="draft", actual=version.status)
    version.status, version.filed_by, version.filed_at = "filed", actor_id, utcnow()
    db.session.flush()
    _audit(version, "methodology_filed", actor_id)
    return version


def approve_version(methodology_id: int, number: int, actor_id: int, note: str | None = None):
    """Approve a filed version; four eyes: neither its author nor whoever filed it may approve it."""
    version = version_of(methodology_id, number, lock=True)
    if version.status != "filed":
        raise Conflict("version_not_in_state", expected="filed", actual=version.status)
    if actor_id in (version.filed_by, version.created_by):
        raise Conflict("approver_is_filer")
    version.status, version.approved_by, version.approved_at = "approved", actor_id, utcnow()
    version.approval_note = note
    db.session.flush()
    _audit(version, "methodology_approved", actor_id, note=note)
    forget_kept_versions()
    return version


def reject_version(methodology_id: int, number: int, actor_id: int, note: str) -> MethodologyVersion:
    """Send a filed version back to draft, with the reason, for its author to revise and file again."""
    version = version_of(methodology_id, number, lock=True)
    if version.status != "filed":
        raise Conflict("version_not_in_state", expected="filed", actual=version.status)
    version.status, version.approval_note = "draft", note
    db.session.flush()
    _audit(version, "methodology_rejected", actor_id, note=note)
    return version


def previous_approved(version: MethodologyVersion) -> MethodologyVersion | None:
    """The latest approved (or retired) version before this one: what a reviewer compares against."""
    return db.session.scalar(select(MethodologyVersion).where(
        MethodologyVersion.methodology_id == version.methodology_id, MethodologyVersion.version < version.version,
        MethodologyVersion.status.in_(("approved", "retired"))).order_by(MethodologyVersion.version.desc()).limit(1))


def retire_version(methodology_id: int, number: int, actor_id: int) -> MethodologyVersion:
    """Withdraw an approved version: events after this are quantified by others or rejected."""
    version = version_of(methodology_id, number, lock=True)
    if version.status != "approved":
        raise Conflict("version_not_in_state", expected="approved", actual=version.status)
    version.status = "retired"
    db.session.flush()
    _audit(version, "methodology_retired", actor_id)
    forget_kept_versions()
    return version


def _audit(version: MethodologyVersion, action: str, actor_id: int, **extra) -> None:
    audit.record(audit.actor_label(actor_id), action, f"methodology:{version.methodology.code}{version.version}",
                 {"version_id": version.id, "effective_from": version.effective_from.isoformat(), **extra})


def approved_versions() -> dict[str, list[tuple]]:
    """kind → [(effective_from, effective_to, version id, parameters)], latest start first."""
    rows = db.session.execute(
        select(Methodology.kind, MethodologyVersion.effective_from, MethodologyVersion.effective_to,
               MethodologyVersion.id, MethodologyVersion.parameters)
        .join(Methodology).where(MethodologyVersion.status == "approved")
        .order_by(MethodologyVersion.effective_from.desc(), MethodologyVersion.id.desc())
    ).all()
    by_kind: dict[str, list[tuple]] = {}
    for kind, start, end, version_id, parameters in rows:
        by_kind.setdefault(kind, []).append((start, end, version_id, parameters))
    return by_kind


def version_in_force(versions: list[tuple], moment: datetime) -> tuple | None:
    """The approved version with the latest start not after `moment` that has not ended by then."""
    for start, end, version_id, parameters in versions:
        if start <= moment and (end is None or moment < end):
            return version_id, parameters
    return None


# The record checks every report against its claim window before keeping it, and reading the
# approved versions for each was a third of a trip's CPU; so that check reads them from a copy
# kept per process and database for up to WINDOWS_KEPT_SECONDS. This process's own approvals
# and retirements drop the copy at once; another process's reach it within that time.
# Quantification itself always reads the versions afresh.
WINDOWS_KEPT_SECONDS = 30.0
_kept_versions: dict[str, tuple[float, dict]] = {}


def _approved_versions_kept() -> dict[str, list[tuple]]:
    database, now = db.session.get_bind().url.render_as_string(), time.monotonic()
    kept = _kept_versions.get(database)
    if kept is None or now - kept[0] > WINDOWS_KEPT_SECONDS:
        kept = _kept_versions[database] = (now, approved_versions())
    return kept[1]


def forget_kept_versions() -> None:
    """Read the approved versions afresh next time (a version changed, or a test emptied the database)."""
    _kept_versions.clear()


def claim_windows(now: datetime) -> Callable[[str, datetime], ClaimWindow | None]:
    """kind and an action's start → the claim window an action is held to before it is recorded:
    the approved version's in force then, or, when none was (an action before the first version,
    or a date at the calendar's edge), the one in force now. None when no version is in force at all.
    """
    versions = _approved_versions_kept()

    def window_of(kind: str, started_at: datetime) -> ClaimWindow | None:
        in_force = version_in_force(versions.get(kind, []), started_at) or version_in_force(versions.get(kind, []), now)
        return claim_window(in_force[1]) if in_force else None
    return window_of
