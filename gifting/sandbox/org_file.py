"""Save a loaded org under the gifting home, so later sandbox starts serve it.

The file contains each object's field types and its records in the REST API's JSON forms, and is
read back through the same conversions the sandbox applies to request bodies.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gifting.errors import ConfigurationError
from gifting.sandbox.org import OrgStore
from gifting.sandbox.salesforce_json import FieldValueError, format_value, parse_field_value
from gifting.sandbox.salesforce_schema import describe_object

LOADED_ORG_FILE = "loaded_org.json"
FORMAT_VERSION = 1


def loaded_org_path(home: Path) -> Path:
    return home / LOADED_ORG_FILE


def save_org(store: OrgStore, home: Path, *, source: Path, saved_at: datetime) -> Path:
    """Write the org to ``<home>/loaded_org.json`` atomically and return the path."""
    objects: dict[str, Any] = {}
    for sobject in store.objects:
        schema = describe_object(store, sobject)
        records = [
            {name: format_value(value) for name, value in record.items()}
            for record in store.records(sobject)
        ]
        objects[sobject] = {"types": schema.types, "records": records}
    document = {
        "format": FORMAT_VERSION,
        "source": str(source.resolve()),
        "saved_at": saved_at.astimezone(UTC).isoformat(),
        "objects": objects,
    }
    home.mkdir(parents=True, exist_ok=True)
    path = loaded_org_path(home)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    os.replace(partial, path)
    return path


def read_saved_org(home: Path) -> tuple[OrgStore, str] | None:
    """Return the saved org and the export it came from, or None when none was loaded.

    Raises:
        ConfigurationError: The file is damaged or from another format version.
    """
    path = loaded_org_path(home)
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("format") != FORMAT_VERSION:
            raise ValueError(f"format {document.get('format')!r}, expected {FORMAT_VERSION}")
        store = OrgStore()
        for sobject, content in document["objects"].items():
            types = content["types"]
            records = store.objects.setdefault(sobject, {})
            for stored in content["records"]:
                record = {
                    name: parse_field_value(name, types.get(name), value)
                    for name, value in stored.items()
                }
                records[record["Id"]] = record
    except (ValueError, KeyError, TypeError, FieldValueError) as error:
        raise ConfigurationError(
            f"the loaded org in {path} cannot be read ({error}): load the export again with "
            "gifting sandbox load EXPORT_DIR, or run gifting sandbox reset for the sample org"
        ) from error
    return store, document["source"]


def forget_saved_org(home: Path) -> bool:
    """Delete the saved org so the sandbox serves the sample org again; True if one existed."""
    path = loaded_org_path(home)
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed
