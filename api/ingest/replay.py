"""Refuse a signed request seen before: a captured request cannot be sent again.

Redis holds each signature for as long as its timestamp could still be accepted; in
embedded mode (one process, no Redis) a dict does the same.
"""
import threading
import time

from flask import current_app

from config.extensions import redis_store

_memory: dict[str, float] = {}
_memory_lock = threading.Lock()


def first_sighting(signature: str) -> bool:
    """True the first time a signature is seen within the acceptance window, False after."""
    ttl = 2 * current_app.config["SIGNATURE_MAX_AGE_SECONDS"]  # the window extends both ways
    client = redis_store.client
    if client is not None:
        return bool(client.set(f"ingest:sig:{signature}", b"1", nx=True, ex=ttl))
    now = time.monotonic()
    with _memory_lock:
        for seen, expires in list(_memory.items()):
            if expires < now:
                del _memory[seen]
        if signature in _memory:
            return False
        _memory[signature] = now + ttl
        return True
