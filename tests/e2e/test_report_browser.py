"""The cohort report as a reader sees it: rendered by headless Chromium from disk.

The ``cohort-report`` flow runs under the Prefect harness on a small warehouse. Its HTML page is
opened from a ``file://`` URL, and its Markdown and table artifacts, read back from the
harness's API, are rendered into a page the same way. A probe script appended to each copy
records, after the load event, what the browser actually laid out (decoded image sizes, table
rows), and ``--dump-dom`` returns it. The page under test is otherwise unchanged.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from html import escape, unescape
from io import BytesIO
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import pytest
from markdown_it import MarkdownIt
from matplotlib.image import imread
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from sqlalchemy import Engine, insert

from flows.cohort_report import cohort_report
from gifting.warehouse import create_warehouse_engine, migrate
from gifting.warehouse.schema import Account, Activity, Contract, Gift, Outcome
from tests.integration.test_cohort_report import (
    AS_OF,
    SYNCED,
    _account,
    _contract,
    _gift,
    _outcome,
)

ACCOUNTS = 400

CHROMIUM = "/usr/bin/chromium"
# Without the networking flags Chromium tries to reach Google's services at start-up, and
# this machine refuses those connections.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

PROBE = """
<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images).map((image) => ({
    alt: image.alt,
    complete: image.complete,
    naturalWidth: image.naturalWidth,
    naturalHeight: image.naturalHeight,
    shownWidth: image.getBoundingClientRect().width,
  }));
  const tables = Array.from(document.querySelectorAll("table")).map((table) => ({
    headers: Array.from(table.querySelectorAll("th")).map((cell) => cell.textContent.trim()),
    rows: table.querySelectorAll("tbody tr").length,
    height: table.getBoundingClientRect().height,
  }));
  const headings = Array.from(document.querySelectorAll("h1, h2")).map((h) => h.textContent);
  const probe = document.createElement("pre");
  probe.id = "render-probe";
  probe.textContent = JSON.stringify({images, tables, headings});
  document.body.appendChild(probe);
});
</script>
"""


def _simulated_book(engine: Engine, seed: int = 7) -> None:
    """Insert 400 accounts signed during 2025, a tenth held out, with a large gift effect.

    Gifted accounts churn at a fifth of the holdout's rate, so the two survival curves and their
    95 % bands lie apart and the plots have something to show.
    """
    generator = np.random.default_rng(seed)
    accounts, contracts, gifts, outcomes, activities = [], [], [], [], []
    for number in range(ACCOUNTS):
        account_id = f"001R{number:014d}"
        held_out = number % 10 == 0
        signed_on = date(2025, 1, 1) + timedelta(days=int(generator.integers(0, 365)))
        churn_day = int(generator.exponential(300 if held_out else 1500))
        accounts.append(_account(account_id, held_out))
        contract_id = f"006R{number:014d}"
        contracts.append(_contract(contract_id, account_id, signed_on, 10_000 + 50 * number))
        churned_on = signed_on + timedelta(days=churn_day)
        if churned_on <= AS_OF.date():
            outcomes.append(_outcome(f"churn:{account_id}", account_id, "churn", churned_on))
        if generator.random() < (0.2 if held_out else 0.35):
            expanded_on = signed_on + timedelta(days=int(generator.integers(30, 300)))
            outcomes.append(
                _outcome(f"expansion:{account_id}", account_id, "expansion", expanded_on, 5_000)
            )
        score = float(generator.integers(5, 9) if held_out else generator.integers(6, 11))
        outcomes.append(_outcome(f"nps:{account_id}", account_id, "nps", None, score=score))
        if not held_out and churn_day > 7:
            sent_at = datetime.combine(signed_on, datetime.min.time()) + timedelta(days=7)
            gifts.append(
                _gift(f"g-{number}", contract_id, account_id, "delivered", 80.0, sent_at=sent_at)
            )
        for meeting in range(int(generator.poisson(2 if held_out else 4))):
            day = signed_on + timedelta(days=10 + 40 * meeting)
            if day <= min(churned_on, AS_OF.date()):
                activities.append(
                    {
                        "id": f"00U{number:012d}{meeting:03d}",
                        "account_id": account_id,
                        "kind": "meeting",
                        "occurred_at": datetime.combine(day, datetime.min.time()),
                        "system_modstamp": SYNCED,
                    }
                )
    with engine.begin() as connection:
        for model, rows in (
            (Account, accounts),
            (Contract, contracts),
            (Gift, gifts),
            (Outcome, outcomes),
            (Activity, activities),
        ):
            connection.execute(insert(model), rows)


def _render(page: Path, user_data_dir: Path) -> dict[str, Any]:
    """Load ``page`` from disk in headless Chromium and return what the probe recorded."""
    probed = page.with_name(f"probed_{page.name}")
    probed.write_text(page.read_text(encoding="utf-8") + PROBE, encoding="utf-8")
    completed = subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={user_data_dir}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    match = re.search(r'<pre id="render-probe">(.*?)</pre>', completed.stdout, re.DOTALL)
    assert match is not None, f"probe missing from the rendered page: {completed.stdout[:500]}"
    probe: dict[str, Any] = json.loads(unescape(match.group(1)))
    return probe


@pytest.fixture(scope="module")
def report_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run the ``cohort-report`` flow once on a simulated book of 400 accounts."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} not found: install it with `apt-get install -y chromium`")
    home = tmp_path_factory.mktemp("report_home")
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("GIFTING_HOME", str(home))
    url = f"sqlite:///{home / 'warehouse.db'}"
    monkeypatch.setenv("GIFTING_DATABASE_URL", url)
    engine = create_warehouse_engine(url)
    migrate(engine)
    _simulated_book(engine)
    engine.dispose()
    try:
        state = cohort_report(as_of=AS_OF, return_state=True)
        result = state.result()
        yield {"result": result, "flow_run_id": state.state_details.flow_run_id, "home": home}
    finally:
        monkeypatch.undo()


@pytest.fixture(scope="module")
def report_page(
    report_run: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    return _render(Path(report_run["result"]["html_path"]), tmp_path_factory.mktemp("chromium"))


def _image(probe: dict[str, Any], alt: str) -> dict[str, Any]:
    matches = [image for image in probe["images"] if image["alt"] == alt]
    assert matches, f"no image {alt!r} among {[image['alt'] for image in probe['images']]}"
    return matches[0]


@pytest.mark.parametrize(
    "alt",
    [
        "Kaplan–Meier retention by arm",
        "Expansion within 365 days by arm",
        "Mean NPS answer by arm",
        "Renewal rate by arm",
        "Engagement per 30 days by arm",
        "ROI breakdown per gifted account",
    ],
)
def test_report_plot_rendered(report_page: dict[str, Any], alt: str) -> None:
    image = _image(report_page, alt)
    assert image["complete"]
    # Decoded PNGs are several hundred pixels wide; a broken data URI decodes to 0.
    assert image["naturalWidth"] >= 300
    assert image["naturalHeight"] >= 200
    assert image["shownWidth"] > 0


def test_survival_plot_shows_bands(report_run: dict[str, Any]) -> None:
    """The Kaplan–Meier plot fills a translucent 95 % band around each arm's curve."""
    html = Path(report_run["result"]["html_path"]).read_text(encoding="utf-8")
    match = re.search(
        r'alt="Kaplan–Meier retention by arm" src="data:image/png;base64,([^"]+)"', html
    )
    assert match is not None
    pixels = imread(BytesIO(base64.b64decode(match.group(1))))[..., :3]
    # The gifted arm is drawn in #1b7f5f; its band at alpha 0.15 over white is a pale green.
    band = np.array([1.0, 1.0, 1.0]) * 0.85 + np.array([0x1B, 0x7F, 0x5F]) / 255 * 0.15
    near_band = np.abs(pixels - band).max(axis=2) < 0.02
    assert near_band.sum() > 500


def test_report_tables_rendered(report_page: dict[str, Any]) -> None:
    tables = report_page["tables"]
    by_first_header = {table["headers"][0]: table for table in tables if table["headers"]}
    assert by_first_header["arm"]["rows"] == 3
    assert by_first_header["gifted − holdout"]["rows"] >= 10
    assert by_first_header["input or component"]["rows"] >= 16
    assert by_first_header["landmark"]["rows"] == 2
    assert by_first_header["cohort"]["rows"] == 12 * 3  # twelve signing months × three arms
    assert all(table["height"] > 0 for table in tables)
    headings = " | ".join(report_page["headings"])
    for heading in (
        "Retention",
        "Renewals, testimonials and case studies",
        "Gift spend and transfers of value",
        "Engagement per 30 days",
        "ROI breakdown",
        "Landmark analysis",
    ):
        assert heading in headings


def _artifacts(flow_run_id: UUID) -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )


def _artifact_page(artifacts: list[Any]) -> str:
    """Render Markdown artifacts as CommonMark with tables, and table artifacts as HTML tables."""
    markdown = MarkdownIt("commonmark").enable("table")
    sections = []
    for artifact in artifacts:
        sections.append(f'<section data-key="{escape(artifact.key)}" data-type="{artifact.type}">')
        if artifact.type == "markdown":
            sections.append(markdown.render(artifact.data))
        elif artifact.type == "table":
            rows = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
            headers = list(rows[0])
            sections.append("<table><thead><tr>")
            sections.extend(f"<th>{escape(str(header))}</th>" for header in headers)
            sections.append("</tr></thead><tbody>")
            for row in rows:
                cells = "".join(f"<td>{escape(str(row[header]))}</td>" for header in headers)
                sections.append(f"<tr>{cells}</tr>")
            sections.append("</tbody></table>")
        sections.append("</section>")
    return "<!DOCTYPE html><html><body>" + "\n".join(sections) + "</body></html>"


def test_artifacts_present_and_render(
    report_run: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    artifacts = _artifacts(report_run["flow_run_id"])
    by_key = {artifact.key: artifact for artifact in artifacts}
    assert set(by_key) >= {"cohort-report", "cohort-retention", "cohort-effects", "cohort-spend"}
    assert by_key["cohort-report"].type == "markdown"
    assert by_key["cohort-retention"].type == "table"
    assert by_key["cohort-effects"].type == "table"
    assert by_key["cohort-spend"].type == "table"
    assert report_run["result"]["html_path"] in by_key["cohort-report"].data

    folder = tmp_path_factory.mktemp("artifacts")
    page = folder / "artifacts.html"
    page.write_text(_artifact_page(artifacts), encoding="utf-8")
    probe = _render(page, folder / "chromium")

    headings = probe["headings"]
    assert any(heading.startswith("Cohort report as of 2026-03-01") for heading in headings)
    tables = {tuple(table["headers"]): table for table in probe["tables"]}
    assert tables[("arm", "accounts")]["rows"] == 3  # the Markdown table of the summary
    assert tables[("effect", "value", "95 % interval")]["rows"] == 9
    retention = [table for table in probe["tables"] if table["headers"][:2] == ["arm", "accounts"]]
    assert any(table["rows"] == 3 and len(table["headers"]) > 2 for table in retention)
    effects = [table for table in probe["tables"] if table["headers"][:1] == ["effect"]]
    assert any(table["rows"] >= 10 for table in effects)
    assert all(table["height"] > 0 for table in probe["tables"])
