"""A weekly slot's text template: plain text with the post's date filled in, and nothing else.

Only `{date}` and `{date:STRFTIME}` are placeholders ("Quiz night tonight, {date:%A %d %B}"); `{{` and `}}` are
literal braces. Never `str.format`: a template is typed by a venue's manager, and `{date.__class__}` or `{0}` must
be refused rather than evaluated, so the template is parsed field by field and each field checked before use.
"""

from __future__ import annotations

import string
from datetime import date

from core.errors import Invalid

FIELD = "text_template"
# A slot's date has no time of day: a time directive would always print midnight, so it is refused.
_TIME_DIRECTIVES = frozenset("HIMSfpzZcXr")
_SAMPLE = date(2026, 12, 8)  # any date: a format that can write one date can write every date
_HINT = "use {date} or {date:%A %d %B} (any strftime codes for the date); write {{ and }} for literal braces"


class TemplateInvalid(Invalid):
    """A template was refused; `placeholder` is the offending text when there is one."""

    def __init__(self, message: str, *, field: str = FIELD, placeholder: str | None = None) -> None:
        super().__init__(message, remedy=_HINT, field=field, placeholder=placeholder)
        self.placeholder = placeholder


def check_template(template: str, *, field: str = FIELD) -> None:
    """Raise TemplateInvalid naming the first placeholder that isn't `{date}` or `{date:FORMAT}`."""
    for _literal, name, spec, conversion in _parse(template, field):
        if name is None:
            continue
        shown = _shown(name, spec, conversion)
        if name != "date":
            if name.startswith("date") and name[4:5] in (".", "["):
                problem = "reads inside the date; only {date} and {date:FORMAT} are allowed"
            elif name == "":
                problem = "is empty; write {date} for the date"
            else:
                problem = f"names '{name}', which isn't known; only the date can be filled in"
            raise TemplateInvalid(f"the placeholder {shown} {problem}", field=field, placeholder=shown)
        if conversion is not None:
            raise TemplateInvalid(
                f"the placeholder {shown} has a conversion (!{conversion}); write {{date}} or {{date:FORMAT}}",
                field=field,
                placeholder=shown,
            )
        if spec:
            _check_spec(spec, shown, field)
            _strftime(_SAMPLE, spec, shown, field)


def render_template(template: str, local_date: date, *, field: str = FIELD) -> str:
    """`template` with each `{date}` / `{date:FORMAT}` filled in for `local_date` (TemplateInvalid if refused)."""
    check_template(template, field=field)
    parts: list[str] = []
    for literal, name, spec, _conversion in _parse(template, field):
        parts.append(literal)
        if name is not None:
            parts.append(_strftime(local_date, spec, _shown(name, spec, None), field) if spec else _default(local_date))
    return "".join(parts)


def _strftime(local_date: date, spec: str, shown: str, field: str) -> str:
    try:
        return local_date.strftime(spec)
    except ValueError as exc:  # e.g. a character the C library can't encode
        raise TemplateInvalid(
            f"the placeholder {shown} can't be written as a date ({exc})", field=field, placeholder=shown
        ) from None


def _default(local_date: date) -> str:
    # "Tuesday 8 December": %-d is not portable, so the day is written without strftime.
    return f"{local_date:%A} {local_date.day} {local_date:%B}"


def _parse(template: str, field: str) -> list[tuple[str, str | None, str, str | None]]:
    try:
        return [
            (literal, name, spec or "", conversion)
            for literal, name, spec, conversion in string.Formatter().parse(template)
        ]
    except ValueError as exc:
        # e.g. "Single '}' encountered", "expected '}' before end of string"
        raise TemplateInvalid(f"the template's braces don't match ({exc})", field=field) from None


def _shown(name: str, spec: str, conversion: str | None) -> str:
    return "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"


def _check_spec(spec: str, shown: str, field: str) -> None:
    if "{" in spec or "}" in spec:
        raise TemplateInvalid(f"the placeholder {shown} nests braces in its format", field=field, placeholder=shown)
    i = 0
    while i < len(spec):
        if spec[i] == "%":
            code = spec[i + 1 : i + 2]
            if not code:
                raise TemplateInvalid(
                    f"the placeholder {shown} ends with a lone %; write %% for a percent sign",
                    field=field,
                    placeholder=shown,
                )
            if code in _TIME_DIRECTIVES:
                raise TemplateInvalid(
                    f"the placeholder {shown} asks for a time of day (%{code}); the template fills in only the date",
                    field=field,
                    placeholder=shown,
                )
            i += 2
        else:
            i += 1
