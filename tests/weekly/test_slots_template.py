"""The weekly template: only the date is filled in, in words or strftime codes; anything else is refused naming the
placeholder, never evaluated (the materialise job renders every post's text and captions with it)."""

from __future__ import annotations

from datetime import date

import pytest

from core.weekly.template import TemplateInvalid, check_template, render_template

TUESDAY = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("template", "reads"),
    [
        ("Quiz night tonight, {date:%A %d %B}, from 8pm", "Quiz night tonight, Tuesday 01 December, from 8pm"),
        ("Live music {date}", "Live music Tuesday 1 December"),
        ("{date:%a %d %b %Y} and {date:%d/%m}", "Tue 01 Dec 2026 and 01/12"),
        ("{{Quiz}} 100%% fun {date:%d%%}", "{Quiz} 100%% fun 01%"),
        ("No date at all", "No date at all"),
        ("", ""),
    ],
)
def test_the_date_is_filled_in(template: str, reads: str) -> None:
    assert render_template(template, TUESDAY) == reads


def test_the_same_template_reads_each_date_of_the_year() -> None:
    template = "Roast {date}"
    assert render_template(template, date(2027, 3, 28)) == "Roast Sunday 28 March"
    assert render_template(template, date(2026, 10, 25)) == "Roast Sunday 25 October"


@pytest.mark.parametrize(
    ("template", "placeholder", "says"),
    [
        ("{date.__class__.__mro__}", "{date.__class__.__mro__}", "reads inside the date"),
        ("{date.__init__.__globals__}", "{date.__init__.__globals__}", "reads inside the date"),
        ("{date[0]}", "{date[0]}", "reads inside the date"),
        ("{settings}", "{settings}", "names 'settings'"),
        ("{0.__class__}", "{0.__class__}", "names '0.__class__'"),
        ("{}", "{}", "is empty"),
        ("{date!s}", "{date!s}", "conversion"),
        ("{date:%H}", "{date:%H}", "time of day"),
        ("{date:{date}}", "{date:{date}}", "nests braces"),
        ("{date:%}", "{date:%}", "lone %"),
    ],
)
def test_anything_but_the_date_is_refused_naming_the_placeholder(template: str, placeholder: str, says: str) -> None:
    with pytest.raises(TemplateInvalid) as caught:
        render_template(f"Quiz {template} tonight", TUESDAY)
    assert caught.value.placeholder == placeholder, caught.value.message
    assert placeholder in caught.value.message and says in caught.value.message, caught.value.message
    assert caught.value.extra["field"] == "text_template"
    assert caught.value.remedy is not None and "{date:%A %d %B}" in caught.value.remedy


@pytest.mark.parametrize("template", ["Quiz }", "Quiz {", "Quiz {date"])
def test_unmatched_braces_are_refused(template: str) -> None:
    with pytest.raises(TemplateInvalid, match="braces don't match"):
        check_template(template)


def test_a_caption_names_its_own_field() -> None:
    with pytest.raises(TemplateInvalid) as caught:
        render_template("{venue}", TUESDAY, field="captions.instagram")
    assert caught.value.extra["field"] == "captions.instagram"
