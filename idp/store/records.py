"""Records the Store keeps as JSON: flat dataclasses whose fields hold JSON values (strings,
numbers, booleans, None, and lists and dicts of them): sign-ins, SSO sessions, authorization
codes, CAS tickets."""

from __future__ import annotations

import json
from dataclasses import fields
from functools import cache
from typing import Any


@cache
def _names(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(kind))


def record_json(record: Any) -> str:
    """json.dumps(asdict(record)), without asdict's deep copy of every list and dict on the way
    (a third of what saving a sign-in cost). A field holding a dataclass is not JSON: json.dumps
    refuses it, as it refuses anything else that is not."""
    return json.dumps({name: getattr(record, name) for name in _names(type(record))})
