"""The page-level depth check counts only brackets outside strings, whatever the strings hold."""

from __future__ import annotations

import random
from typing import Any

import orjson

from threat_feeds.sources.jsonlimits import _max_depth

_CHARS = ['"', "\\", "[", "]", "{", "}", "a", " ", ",", ":", "\n", "é"]


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


def _random_json(rnd: random.Random, level: int = 0) -> Any:
    roll = rnd.random()
    if level > 6 or roll < 0.3:
        return "".join(rnd.choice(_CHARS) for _ in range(rnd.randint(0, 8)))
    if roll < 0.65:
        return [_random_json(rnd, level + 1) for _ in range(rnd.randint(0, 3))]
    key = "".join(rnd.choice(_CHARS) for _ in range(rnd.randint(0, 4)))
    return {key + str(i): _random_json(rnd, level + 1) for i in range(rnd.randint(0, 3))}


def test_max_depth_ignores_brackets_quotes_and_escapes_inside_strings() -> None:
    assert _max_depth(orjson.dumps({"pattern": "[[[[ '\\\\' ]]]] \\\" {{{{"})) == 1
    assert _max_depth(orjson.dumps(["\\", [["]]]]"]]])) == 3
    rnd = random.Random(9)
    for _ in range(5000):
        value = _random_json(rnd)
        assert _max_depth(orjson.dumps(value)) == _depth(value)
