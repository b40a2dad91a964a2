"""Render gift notes from Jinja2 templates in a sandbox, with CRM text passed only as data.

A template is compiled from a trusted file; CRM values enter only as context variables, so a
contact named ``{{ 7*7 }}`` is printed as written and never evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from gifting.errors import ConfigurationError, DataQualityError

MAX_NOTE_CHARACTERS = 600  # fits a standard A6 gift card


@dataclass(frozen=True)
class NoteContext:
    """Facts a note may use. Every field is present; a missing fact is ``None``."""

    first_name: str | None
    company: str
    title: str | None
    stage: str
    purpose: str
    item_name: str
    use_case: str | None
    goals: str | None
    sender_team: str = "the team"


def note_environment(templates_dir: Path) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=FileSystemLoader(str(templates_dir)),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def check_templates(environment: SandboxedEnvironment, names: list[str]) -> None:
    """Compile every named template and render it with an empty-ish context, at start-up."""
    sample = NoteContext(
        first_name=None,
        company="Example Ltd",
        title=None,
        stage="check",
        purpose="check",
        item_name="a gift",
        use_case=None,
        goals=None,
    )
    for name in names:
        try:
            render_note(environment, name, sample)
        except (TemplateError, DataQualityError) as error:
            raise ConfigurationError(f"note template {name!r} does not render: {error}") from error


def render_note(environment: SandboxedEnvironment, template: str, context: NoteContext) -> str:
    """Render a note and check it is neither empty nor longer than a card holds."""
    text = environment.get_template(template).render(**context.__dict__)
    note = "\n".join(line.rstrip() for line in text.strip().splitlines())
    if not note:
        raise DataQualityError(f"template {template!r} rendered an empty note")
    if len(note) > MAX_NOTE_CHARACTERS:
        raise DataQualityError(
            f"note from {template!r} has {len(note)} characters; a card holds {MAX_NOTE_CHARACTERS}"
        )
    return note
