"""The retry policy: which end states are run again, with what resources.

A grunter script's ``retry`` setting::

    "retry": {"TIMEOUT": {"time": "2x", "max": 3, "cap": {"time": "1-00:00:00"}},
              "OUT_OF_MEMORY": {"memory": "2x", "max": 2},
              "NODE_FAIL": {"max": 1}}

Per end state (Slurm's word): ``max`` attempts in all (the first included),
and for ``time``/``memory``/``cpus`` a factor (``"2x"``) or an absolute value
(``"4:00:00"``, ``"32G"``); ``cap`` bounds what scaling may reach (e.g. the
partition's limit).  ``decide`` is the one place that says whether an ended
attempt is run again: pure, for a job now and for each task of a sweep later.
"""
import json
import re
from typing import NamedTuple

RETRYABLE = ("TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "FAILED", "PREEMPTED", "BOOT_FAIL",
             "DEADLINE")
SCALED = ("time", "memory", "cpus")
RULE_KEYS = ("max",) + SCALED + ("cap",)
FACTOR_RE = re.compile(r"^(\d+(?:\.\d+)?)x$")
MEMORY_RE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)B?$", re.I)
MEMORY_UNITS = {"K": 1.0 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}


class PolicyError(ValueError):
    """A retry setting that cannot be used; the message names what is wrong."""


class Decision(NamedTuple):
    """What to do after an attempt ended: ``resources`` for the next one, or None."""

    resources: "dict | None"   # the next attempt's time/memory/cpus (None: no retry)
    why: str                   # one line for the record and the user
    max: int                   # the attempts the rule allows in all (1: no rule)


def records(text: "str | None") -> "list[dict]":
    """The JSON objects of a file of one a line (job.attempts, job.attempt); bad lines skipped."""
    out = []
    for line in (text or "").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def attempt_of(text: "str | None") -> int:
    """The attempt number job.attempt names (1 when there is none)."""
    found = records(text)
    try:
        return int(found[0].get("attempt", 1)) if found else 1
    except (TypeError, ValueError):
        return 1


# -- values --------------------------------------------------------------------
def time_seconds(text: str) -> int:
    """Slurm's time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S."""
    text = str(text).strip()
    days = 0
    if "-" in text:
        d, _, text = text.partition("-")
        days = int(d)
        parts = [int(p) for p in text.split(":")]
        parts += [0] * (3 - len(parts))
        h, m, s = parts
    else:
        parts = [int(p) for p in text.split(":")]
        if len(parts) == 1:
            h, m, s = 0, parts[0], 0
        elif len(parts) == 2:
            h, m, s = 0, parts[0], parts[1]
        elif len(parts) == 3:
            h, m, s = parts
        else:
            raise ValueError(text)
    return ((days * 24 + h) * 60 + m) * 60 + s


def format_time(seconds: int) -> str:
    """Seconds as Slurm's D-HH:MM:SS (HH:MM:SS under a day); whole minutes, rounded up."""
    minutes = -(-int(seconds) // 60)
    d, rest = divmod(minutes, 24 * 60)
    h, m = divmod(rest, 60)
    return (f"{d}-" if d else "") + f"{h:02d}:{m:02d}:00"


def memory_mb(text: str) -> float:
    m = MEMORY_RE.match(str(text).strip())
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * MEMORY_UNITS[m.group(2).upper()]


def format_memory(mb: float) -> str:
    mb = int(-(-mb // 1))
    return f"{mb // 1024}G" if mb % 1024 == 0 else f"{mb}M"


_KINDS = {"time": (time_seconds, format_time), "memory": (memory_mb, format_memory),
          "cpus": (int, str)}


def _scaled(name: str, current: "object", how: str, cap: "object") -> "tuple[str | None, str]":
    """(the new value, or None when it cannot be had, and a note)."""
    parse, fmt = _KINDS[name]
    m = FACTOR_RE.match(str(how).strip())
    if m:
        if current is None:
            return None, f"no {name} set to scale by {how}"
        value = parse(current) * float(m.group(1))
    else:
        value = parse(how)
    if cap is not None and value > parse(cap):
        if current is not None and parse(current) >= parse(cap):
            return None, f"{name} is at its cap {cap} already"
        value = parse(cap)
    return fmt(value), ""


# -- the setting ---------------------------------------------------------------
def check(policy: "object") -> dict:
    """The ``retry`` setting checked; PolicyError names the known words on a bad one."""
    if policy is None:
        return {}
    if not isinstance(policy, dict):
        raise PolicyError("setting retry must be a dict like {'TIMEOUT': {'time': '2x', 'max': 3}}")
    out = {}
    for state, rule in policy.items():
        if state not in RETRYABLE:
            raise PolicyError(f"retry: unknown end state {state!r} (known: {', '.join(RETRYABLE)})")
        if not isinstance(rule, dict):
            raise PolicyError(f"retry {state}: must be a dict like {{'max': 2}}")
        unknown = sorted(set(rule) - set(RULE_KEYS))
        if unknown:
            raise PolicyError(f"retry {state}: unknown setting {', '.join(map(repr, unknown))} "
                              f"(known: {', '.join(RULE_KEYS)})")
        if not isinstance(rule.get("max"), int) or isinstance(rule.get("max"), bool) \
                or rule["max"] < 1:
            raise PolicyError(f"retry {state}: max (attempts in all) must be a whole number >= 1")
        cap = rule.get("cap") or {}
        if not isinstance(cap, dict) or set(cap) - set(SCALED):
            raise PolicyError(f"retry {state}: cap must be a dict of {', '.join(SCALED)}")
        for name in SCALED:
            for value in (rule.get(name), cap.get(name)):
                if value is None:
                    continue
                try:
                    m = FACTOR_RE.match(str(value).strip())
                    if not (m and value is rule.get(name)):
                        _KINDS[name][0](value)
                except ValueError:
                    raise PolicyError(f"retry {state}: {name} must be a factor like '2x' or a "
                                      f"value like the {name} setting, not {value!r}") from None
        out[state] = dict(rule)
    return out


# -- the decision --------------------------------------------------------------
def decide(policy: dict, history: "list[dict]", state: str, resources: dict) -> Decision:
    """Run the ended attempt again?  ``history``: the attempts that ended before this
    one (each {"state": ...}); ``state``: this attempt's end (Slurm's word);
    ``resources``: this attempt's time/memory/cpus.  Pure."""
    rule = policy.get(state)
    if not rule:
        return Decision(None, state if state == "COMPLETED" else f"{state}: no retry rule for it",
                        1)
    attempt = len(history) + 1
    if attempt >= rule["max"]:
        return Decision(None, f"{state}: attempt {attempt} of {rule['max']}, no more retries",
                        rule["max"])
    nxt = {k: resources.get(k) for k in SCALED if resources.get(k) is not None}
    cap = rule.get("cap") or {}
    notes = []
    for name in SCALED:
        if rule.get(name) is None:
            continue
        value, note = _scaled(name, resources.get(name), rule[name], cap.get(name))
        if value is None:
            return Decision(None, f"{state}: not retried: {note}", rule["max"])
        nxt[name] = value
        notes.append(f"{name} {resources.get(name) or '(default)'} -> {value}")
    why = f"{state}: attempt {attempt + 1} of {rule['max']}" + (f" with {', '.join(notes)}"
                                                               if notes else "")
    return Decision(nxt, why, rule["max"])
