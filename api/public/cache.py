"""The public page's figures, computed at most once per PUBLIC_PAGE_CACHE_SECONDS across processes.

A crowd at /public must not load the database: the figures are kept as JSON in Redis (shared by
every gunicorn worker) and in this process's memory. Order of lookup: this process's copy while
fresh; Redis; else one process computes (it holds a short Redis lock, so the others wait a moment
for its answer instead of all running the queries at once). Redis speeds this up but nothing
depends on it: with Redis down (or unset) each process computes at most once per period on its own,
and stops asking Redis for REDIS_BACKOFF_SECONDS after a failure so requests do not wait on it.
"""
import hashlib
import json
import logging
import threading
import time
from typing import Callable

import redis
from flask import current_app

from config.extensions import redis_store

log = logging.getLogger(__name__)

KEY_PREFIX = "public-page:v1:"
COMPUTATIONS = KEY_PREFIX + "computations"
LOCK_SECONDS = 15  # longer than the queries ever take; a holder that dies frees it by expiry
WAIT_SECONDS, POLL_SECONDS = 3.0, 0.02  # how long another process's computation is waited for
REDIS_BACKOFF_SECONDS = 5.0
EXTENSION = "public_page_cache"


class Cached:
    """A computed value as JSON text, its digest (for ETags), and when this process drops it."""

    def __init__(self, payload: bytes, expires: float):
        self.payload, self.expires = payload, expires
        self.digest = hashlib.sha256(payload).hexdigest()[:24]
        self.value = json.loads(payload)


RENDERED_KEPT = 64  # pages (language × page of retirements) and CSVs kept rendered in this process


class _State:
    def __init__(self):
        self.entries: dict[str, Cached] = {}
        self.rendered: dict[str, str] = {}
        self.redis_down_until = 0.0
        self.lock = threading.Lock()


def _state() -> _State:
    return current_app.extensions.setdefault(EXTENSION, _State())


def forget() -> None:
    """Drop this process's copies (tests, after emptying the database)."""
    state = current_app.extensions.get(EXTENSION)
    if state is not None:
        state.entries.clear()
        state.rendered.clear()
        state.redis_down_until = 0.0


def cached(name: str, compute: Callable[[], object]) -> Cached:
    """`compute()`'s value (JSON-able), at most once per PUBLIC_PAGE_CACHE_SECONDS across processes."""
    ttl = current_app.config["PUBLIC_PAGE_CACHE_SECONDS"]
    state, now = _state(), time.monotonic()
    entry = state.entries.get(name)
    if entry is not None and entry.expires > now:
        return entry
    with state.lock:  # one computation per process at a time, for each threaded worker
        entry = state.entries.get(name)
        if entry is not None and entry.expires > time.monotonic():
            return entry
        entry = _from_redis_or_computed(state, KEY_PREFIX + name, compute, ttl)
        state.entries[name] = entry
        return entry


def rendered(tag: str, render: Callable[[], str]) -> str:
    """The text made from cached figures, kept in this process under a tag naming those figures'
    digests (so it is never stale): rendering a page costs more than serving it."""
    kept = _state().rendered
    text = kept.get(tag)
    if text is None:
        if len(kept) >= RENDERED_KEPT:
            kept.clear()  # old digests' pages; simpler than an LRU and as good at this size
        text = kept[tag] = render()
    return text


def _from_redis_or_computed(state: _State, key: str, compute, ttl: int) -> Cached:
    client = redis_store.client
    if client is None or time.monotonic() < state.redis_down_until:
        return _computed(compute, ttl)
    try:
        found = _shared(client, key)
        if found is not None:
            return found
        if client.set(key + ":lock", b"1", nx=True, ex=LOCK_SECONDS):
            try:
                entry = _computed(compute, ttl)
                client.set(key, entry.payload, px=ttl * 1000)
                client.incr(COMPUTATIONS)  # how often the figures were computed, for operators and the bench
            finally:
                client.delete(key + ":lock")
            return entry
        deadline = time.monotonic() + WAIT_SECONDS  # another process is computing: take its answer
        while time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            found = _shared(client, key)
            if found is not None:
                return found
    except redis.RedisError as error:
        log.warning("public page cache: Redis unavailable (%s); computing in this process", error)
        state.redis_down_until = time.monotonic() + REDIS_BACKOFF_SECONDS
    return _computed(compute, ttl)


def _shared(client, key: str) -> Cached | None:
    with client.pipeline() as pipe:
        payload, remaining_ms = pipe.get(key).pttl(key).execute()
    if payload is None or remaining_ms is None or remaining_ms <= 0:
        return None
    return Cached(payload, time.monotonic() + remaining_ms / 1000)


def _computed(compute, ttl: int) -> Cached:
    payload = json.dumps(compute(), ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    return Cached(payload, time.monotonic() + ttl)
