"""EventBridge Scheduler cron expressions, checked field by field.

cron(minutes hours day-of-month month day-of-week year), with the ranges and wildcards of the
EventBridge cron reference; a ScheduleExpression has at most 256 characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CRON = re.compile(r"^cron\((?P<fields>[^()]+)\)$")
SCHEDULE_EXPRESSION_LIMIT = 256
# ASCII only: str.isdigit() also accepts "²", which int() then refuses.
_DIGITS = re.compile(r"[0-9]{1,4}")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class CronField:
    """One field of the expression: its name, its range and the names it accepts."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()

    def value(self, text: str) -> int | None:
        """The field's number for ``text`` (a number or a name), None when out of range."""
        if text in self.names:
            return self.names.index(text) + 1
        if _DIGITS.fullmatch(text) and self.low <= int(text) <= self.high:
            return int(text)
        return None

    def accepted(self) -> str:
        names = f" or {self.names[0]}-{self.names[-1]}" if self.names else ""
        return f"{self.low}-{self.high}{names}"


_MINUTES = CronField("minutes", 0, 59)
_HOURS = CronField("hours", 0, 23)
_DAY_OF_MONTH = CronField("day-of-month", 1, 31)
_MONTH = CronField("month", 1, 12, _MONTHS)
_DAY_OF_WEEK = CronField("day-of-week", 1, 7, _WEEKDAYS)
_YEAR = CronField("year", 1970, 2199)
_FIELDS = (_MINUTES, _HOURS, _DAY_OF_MONTH, _MONTH, _DAY_OF_WEEK, _YEAR)
_EXTRAS = {
    _DAY_OF_MONTH.name: "; also ?, L, LW and <day>W",
    _DAY_OF_WEEK.name: "; also ?, L, <day>L and <day>#<1-5>",
}


def _special_day_item(field: CronField, item: str) -> bool | None:
    """Whether an L, W or # form of a day field is valid; None when ``item`` is none of them."""
    if field is _DAY_OF_MONTH and item.endswith("W"):
        return item == "LW" or field.value(item[:-1]) is not None
    if field is _DAY_OF_WEEK and "#" in item:
        day, _, nth = item.partition("#")
        return field.value(day) is not None and nth in {"1", "2", "3", "4", "5"}
    if field in (_DAY_OF_MONTH, _DAY_OF_WEEK) and item.endswith("L"):
        return item == "L" or (field is _DAY_OF_WEEK and field.value(item[:-1]) is not None)
    return None


def _item_is_valid(field: CronField, item: str) -> bool:
    """One comma-separated item: ``*``, ``5``, ``1-5``, ``*/10``, ``0/15``, ``MON-FRI``..."""
    special = _special_day_item(field, item)
    if special is not None:
        return special
    base, slash, step = item.partition("/")
    step_is_valid = not slash or (bool(_DIGITS.fullmatch(step)) and 1 <= int(step) <= field.high)
    # A range may wrap (e.g. FRI-MON); both of its ends must be in range.
    ends = base.split("-", 1)
    return step_is_valid and (base == "*" or all(field.value(end) is not None for end in ends))


def check_cron(value: str) -> str:
    """``value`` stripped, or ValueError naming the first field that is not valid."""
    expression = value.strip()
    match = _CRON.fullmatch(expression)
    if not match:
        raise ValueError(
            f"{value!r} is not an EventBridge Scheduler cron expression; accepted: "
            "cron(minutes hours day-of-month month day-of-week year), e.g. cron(0 21 ? * TUE *)"
        )
    if len(expression) > SCHEDULE_EXPRESSION_LIMIT:
        raise ValueError(
            f"{expression[:40]!r}... has {len(expression)} characters; EventBridge Scheduler "
            f"accepts at most {SCHEDULE_EXPRESSION_LIMIT}"
        )
    fields = match.group("fields").split(" ")
    if len(fields) != len(_FIELDS) or "" in fields:
        raise ValueError(
            f"{value!r} must have 6 fields separated by single spaces: minutes hours "
            "day-of-month month day-of-week year, e.g. cron(0 21 ? * TUE *)"
        )
    for field, text in zip(_FIELDS, fields, strict=True):
        if text == "?" and field in (_DAY_OF_MONTH, _DAY_OF_WEEK):
            continue
        if not all(_item_is_valid(field, item) for item in text.upper().split(",")):
            raise ValueError(
                f"{value!r}: the {field.name} field {text!r} is not valid; accepted: "
                f"{field.accepted()}, lists (,), ranges (-), * and increments (/)"
                f"{_EXTRAS.get(field.name, '')}"
            )
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ValueError(
            f"{value!r}: exactly one of day-of-month and day-of-week must be '?', "
            "e.g. cron(0 21 ? * TUE *)"
        )
    return expression
