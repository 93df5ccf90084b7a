"""EventBridge Scheduler cron expressions: cron(minutes hours day-of-month month day-of-week year).

The fields are checked by aws-cron-expression-validator, a maintained implementation of the
EventBridge cron reference (ranges, names, L, W, #, and which wildcards each field takes; it
refuses ``/`` in day-of-week, which EventBridge does not accept). What stays here is the
``cron(...)`` wrapper, Scheduler's 256-character limit, and messages that name the field and
what it accepts.
"""

from __future__ import annotations

import re

from aws_cron_expression_validator.validator import (
    AWSCronExpressionDayOfMonthError,
    AWSCronExpressionDayOfWeekError,
    AWSCronExpressionError,
    AWSCronExpressionHourError,
    AWSCronExpressionMinuteError,
    AWSCronExpressionMonthError,
    AWSCronExpressionValidator,
    AWSCronExpressionYearError,
)

_CRON = re.compile(r"^cron\((?P<fields>[^()]+)\)$")
SCHEDULE_EXPRESSION_LIMIT = 256
_EXAMPLE = "e.g. cron(0 21 ? * TUE *)"
_STEPS = "lists (,), ranges (-), * and increments (/)"
# The library raises one error class per field; its messages name the value, not what the
# field accepts, so the field's position and range come from here.
_FIELDS: dict[type[AWSCronExpressionError], tuple[int, str, str]] = {
    AWSCronExpressionMinuteError: (0, "minutes", f"0-59, {_STEPS}"),
    AWSCronExpressionHourError: (1, "hours", f"0-23, {_STEPS}"),
    AWSCronExpressionDayOfMonthError: (2, "day-of-month", f"1-31, {_STEPS}; also ?, L, LW, <day>W"),
    AWSCronExpressionMonthError: (3, "month", f"1-12 or JAN-DEC, {_STEPS}"),
    AWSCronExpressionDayOfWeekError: (
        4,
        "day-of-week",
        "1-7 or SUN-SAT, lists (,), ranges (-) and *; also ?, L, <day>L and <day>#<1-5> "
        "(no increments)",
    ),
    AWSCronExpressionYearError: (5, "year", f"1970-2199, {_STEPS}"),
}


# The largest increment that still repeats within each field (the library accepts any number).
_MAX_STEP = {0: ("minutes", 59), 1: ("hours", 23), 2: ("day-of-month", 31), 3: ("month", 12),
             5: ("year", 229)}  # fmt: skip


def _step_problem(fields: list[str]) -> str | None:
    for position, (name, limit) in _MAX_STEP.items():
        steps = [item.partition("/")[2] for item in fields[position].split(",") if "/" in item]
        if any(int(step) > limit for step in steps):
            return f"the {name} field {fields[position]!r} has an increment above {limit}"
    return None


def check_cron(value: str) -> str:
    """``value`` stripped, or ValueError naming the first field that is not valid."""
    expression = value.strip()
    match = _CRON.fullmatch(expression)
    if not match:
        raise ValueError(
            f"{value!r} is not an EventBridge Scheduler cron expression; accepted: "
            f"cron(minutes hours day-of-month month day-of-week year), {_EXAMPLE}"
        )
    if len(expression) > SCHEDULE_EXPRESSION_LIMIT:
        raise ValueError(
            f"{expression[:40]!r}... has {len(expression)} characters; EventBridge Scheduler "
            f"accepts at most {SCHEDULE_EXPRESSION_LIMIT}"
        )
    fields = match.group("fields").split(" ")
    if len(fields) != 6 or "" in fields:
        raise ValueError(
            f"{value!r} must have 6 fields separated by single spaces: minutes hours "
            f"day-of-month month day-of-week year, {_EXAMPLE}"
        )
    try:
        AWSCronExpressionValidator.validate(" ".join(fields))
    except AWSCronExpressionError as error:
        described = _FIELDS.get(type(error))
        if described is None:
            # The only field-independent rule left: the two day fields.
            raise ValueError(
                f"{value!r}: exactly one of day-of-month and day-of-week must be '?', {_EXAMPLE}"
            ) from None
        position, name, accepted = described
        raise ValueError(
            f"{value!r}: the {name} field {fields[position]!r} is not valid; accepted: {accepted}"
        ) from None
    problem = _step_problem(fields)
    if problem:
        raise ValueError(f"{value!r}: {problem}, which never repeats within the field")
    return expression
