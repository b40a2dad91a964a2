"""Render gift notes from Jinja2 templates in a sandbox, with CRM text passed only as data.

A template is compiled from a trusted file, and CRM values enter only as context variables. A
contact named ``{{ 7*7 }}`` is therefore printed as written and never evaluated.

Each stage names a base template such as ``welcome.j2``. A variant for one relationship type,
``welcome.champion.j2``, replaces the base for recipients of that type.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment

from gifting.errors import ConfigurationError, DataQualityError

MAX_NOTE_CHARACTERS = 600  # fits a standard A6 gift card
# Characters each card format holds; the A6 figure is the default for every printed note.
NOTE_LIMITS = {"a6_card": MAX_NOTE_CHARACTERS, "mini_card": 250, "email": 1500}
TEMPLATE_SUFFIX = ".j2"
# Relationship types a template variant may be named after; see enrichment.relationship_from_role.
RELATIONSHIPS = ("executive_sponsor", "champion", "decision_maker", "end_user", "partner", "other")


@dataclass(frozen=True)
class NoteContext:
    """Facts a note may use. Every field is present, and a missing fact is ``None``.

    Attributes:
        relationship: The recipient's role on the contract, one of ``RELATIONSHIPS``.
        seniority: ``executive``, ``director``, ``manager`` or ``individual``, from the title.
        recent_topic: One topic from the conversation history, on one line of at most 80
            characters.
        went_live_on: The go-live date as written in a note, such as ``5 March 2026``.
        kickoff_on: The kickoff date, written the same way.
    """

    first_name: str | None
    company: str
    title: str | None
    stage: str
    purpose: str
    item_name: str
    use_case: str | None
    goals: str | None
    sender_team: str = "the team"
    relationship: str | None = None
    seniority: str | None = None
    industry: str | None = None
    recent_topic: str | None = None
    went_live_on: str | None = None
    kickoff_on: str | None = None


CONTEXT_FIELDS = frozenset(field.name for field in fields(NoteContext))


def phrase(text: str) -> str:
    """Put CRM text on one line without closing punctuation, so a template can end the sentence."""
    return " ".join(str(text).split()).rstrip(" .!;,:")


def lowercase_initial(text: str) -> str:
    """Lowercase the first letter for use mid-sentence, but keep acronyms such as ``SAP`` as is."""
    text = str(text)
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def note_environment(templates_dir: Path) -> SandboxedEnvironment:
    """Build the sandboxed environment that every note is rendered in.

    StrictUndefined turns a misspelt field into an error at start-up instead of a blank in a note.
    """
    environment = SandboxedEnvironment(
        loader=FileSystemLoader(str(templates_dir)),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    environment.filters["phrase"] = phrase
    environment.filters["lowercase_initial"] = lowercase_initial
    return environment


def variant_name(template: str, relationship: str) -> str:
    """Return the name of a base template's variant for one relationship type."""
    stem = template.removesuffix(TEMPLATE_SUFFIX)
    return f"{stem}.{relationship}{TEMPLATE_SUFFIX}"


@lru_cache(maxsize=256)
def _available(environment: SandboxedEnvironment) -> frozenset[str]:
    # NOTE: cached per environment, so a variant file added while a process runs is used only
    # after a restart. Base templates are still looked up on every render.
    return frozenset(environment.list_templates())


def template_for(environment: SandboxedEnvironment, template: str, relationship: str | None) -> str:
    """Return the relationship's variant of ``template`` if one exists, else ``template``."""
    if relationship:
        variant = variant_name(template, relationship)
        if variant in _available(environment):
            return variant
    return template


def check_templates(environment: SandboxedEnvironment, names: list[str]) -> None:
    """Check every stage's base template and all its variants when a flow starts.

    Each must exist, use only ``NoteContext`` fields, and render both with no optional facts and
    with all of them. A variant named after an unknown relationship type would never be used, so
    it is rejected too.
    """
    available = environment.list_templates()
    for name in names:
        if name not in available:
            raise ConfigurationError(
                f"stage template {name!r} not found in the templates folder: add the base template"
            )
        stem = name.removesuffix(TEMPLATE_SUFFIX)
        variants = [t for t in available if t.startswith(f"{stem}.") and t != name]
        for variant in variants:
            relationship = variant.removeprefix(f"{stem}.").removesuffix(TEMPLATE_SUFFIX)
            if relationship not in RELATIONSHIPS:
                raise ConfigurationError(
                    f"template {variant!r} names unknown relationship {relationship!r}; "
                    f"expected one of {', '.join(RELATIONSHIPS)}"
                )
        for template in [name, *variants]:
            _check_template(environment, template)


def _check_template(environment: SandboxedEnvironment, name: str) -> None:
    try:
        source = environment.loader.get_source(environment, name)[0]  # type: ignore[union-attr]
        unknown = meta.find_undeclared_variables(environment.parse(source)) - CONTEXT_FIELDS
        if unknown:
            raise ConfigurationError(
                f"note template {name!r} uses {', '.join(sorted(unknown))}, which a note context "
                f"does not provide; use only {', '.join(sorted(CONTEXT_FIELDS))}"
            )
        for sample in (_sample_context(full=False), _sample_context(full=True)):
            if "None" in _render(environment, name, sample):
                raise DataQualityError("a missing fact printed as 'None': wrap it in {% if %}")
    # The sandbox raises TypeError for unsupported operations, such as adding to None.
    except (TemplateError, DataQualityError, TypeError) as error:
        raise ConfigurationError(f"note template {name!r} does not render: {error}") from error


def _sample_context(*, full: bool) -> NoteContext:
    known = "sample" if full else None
    return NoteContext(
        first_name=known,
        company="Example Ltd",
        title=known,
        stage="check",
        purpose="check",
        item_name="a gift",
        use_case=known,
        goals=known,
        relationship="champion" if full else None,
        seniority="manager" if full else None,
        industry=known,
        recent_topic=known,
        went_live_on="1 March 2026" if full else None,
        kickoff_on="1 February 2026" if full else None,
    )


def render_note(
    environment: SandboxedEnvironment,
    template: str,
    context: NoteContext,
    *,
    card_format: str = "a6_card",
) -> str:
    """Render a note and check that it is neither empty nor longer than its card holds.

    ``template`` is the stage's base template. The variant for ``context.relationship`` is used
    instead when the templates folder has one. ``card_format`` is a key of ``NOTE_LIMITS``.
    """
    variant = template_for(environment, template, context.relationship)
    return _render(environment, variant, context, NOTE_LIMITS[card_format])


def _render(
    environment: SandboxedEnvironment,
    template: str,
    context: NoteContext,
    limit: int = MAX_NOTE_CHARACTERS,
) -> str:
    text = environment.get_template(template).render(**context.__dict__)
    note = "\n".join(line.rstrip() for line in text.strip().splitlines())
    if not note:
        raise DataQualityError(f"template {template!r} rendered an empty note")
    if len(note) > limit:
        raise DataQualityError(
            f"note from {template!r} has {len(note)} characters, but its card holds {limit}: "
            "shorten the template"
        )
    return note
