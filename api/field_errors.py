"""`errors` in one shape (API.md): a field's dotted path → a list of messages in the request's language.

marshmallow nests errors as the data nests (`{"events": {3: {"started_at": [...]}}}`), webargs
puts the request's location on top (`{"query": {"limit": [...]}}`), and our own checks give a
code per field (`{"started_at": "outside_claim_window"}`). Clients get all three as
`{"events.3.started_at": [...], "limit": [...], "started_at": [...]}`.
"""
from api.messages import field_message

# marshmallow's key for errors about an object as a whole; at the top, the body as a whole.
WHOLE = "_schema"


def field_errors(tree) -> dict[str, list[str]]:
    """Flatten a marshmallow-shaped error tree (or codes) into path → translated messages."""
    flat: dict[str, list[str]] = {}
    _flatten(tree, "", flat)
    return flat


def request_field_errors(by_location: dict) -> dict[str, list[str]]:
    """webargs's `{location: errors}` without the location; a path two locations share is prefixed."""
    flat: dict[str, list[str]] = {}
    for location, errors in by_location.items():
        for path, messages in field_errors(errors).items():
            if path in flat:
                path = f"{location}.{path}"
            flat.setdefault(path, []).extend(messages)
    return flat


def _flatten(node, path: str, flat: dict) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            key = encodable(str(key))
            if key == WHOLE and path:  # a nested object's own errors belong to its path
                _flatten(value, path, flat)
            else:
                _flatten(value, f"{path}.{key}" if path else key, flat)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _flatten(item, path, flat)
    elif node is not None:
        flat.setdefault(path or WHOLE, []).append(encodable(field_message(str(node))))


def encodable(text: str) -> str:
    """Text that UTF-8 can carry: an unknown field's name may be a lone surrogate, echoed as `\\ud800`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
