"""Secrets in Prefect Secret blocks: `gifting secrets create` writes them, flows read them.

Runs against the Prefect test harness's API that ``conftest`` starts, so the blocks are real
block documents.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from prefect.blocks.system import Secret
from typer.testing import CliRunner

from flows.cli import app
from flows.runtime import load_settings_with_secrets
from gifting.errors import ConfigurationError
from gifting.settings import PROJECT_ROOT

PASSWORD = "block-password-Secret-1"
CLIENT_SECRET = "block-client-secret-Secret-2"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Start each test from a shell with no GIFTING_* variable and an empty home."""
    for name in list(os.environ):
        if name.startswith("GIFTING_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GIFTING_HOME", str(tmp_path / "home"))


def _create(*arguments: str) -> str:
    result = CliRunner().invoke(app, ["secrets", "create", *arguments])
    assert result.exit_code == 0, result.output
    return result.output


def test_create_saves_blocks_without_printing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIFTING_SALESFORCE_PASSWORD", PASSWORD)
    monkeypatch.setenv("GIFTING_SALESFORCE_CLIENT_SECRET", CLIENT_SECRET)
    output = _create("--prefix", "create-test")
    assert Secret.load("create-test-salesforce-password").get() == PASSWORD
    assert Secret.load("create-test-salesforce-client-secret").get() == CLIENT_SECRET
    assert "create-test-salesforce-password" in output
    assert "GIFTING_SECRET_BLOCK_PREFIX=create-test" in output
    assert PASSWORD not in output
    assert CLIENT_SECRET not in output


def test_create_keeps_block_unless_overwrite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIFTING_SALESFORCE_PASSWORD", "first-Secret")
    _create("--prefix", "rotate-test")
    monkeypatch.setenv("GIFTING_SALESFORCE_PASSWORD", "rotated-Secret")
    kept = _create("--prefix", "rotate-test")
    assert "--overwrite" in kept
    assert Secret.load("rotate-test-salesforce-password").get() == "first-Secret"
    _create("--prefix", "rotate-test", "--overwrite")
    assert Secret.load("rotate-test-salesforce-password").get() == "rotated-Secret"


def test_create_reads_private_key_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key_file = tmp_path / "server.key"
    key_file.write_text(pem)
    monkeypatch.setenv("GIFTING_SALESFORCE_PRIVATE_KEY_FILE", str(key_file))
    output = _create("--prefix", "key-test")
    assert Secret.load("key-test-salesforce-private-key").get() == pem
    assert "GIFTING_SALESFORCE_PRIVATE_KEY_FILE" in output
    assert pem.splitlines()[3] not in output


def test_create_without_secrets_fails() -> None:
    result = CliRunner().invoke(app, ["secrets", "create"])
    assert result.exit_code == 2
    assert "no secret GIFTING_* variable is set" in result.output


def test_create_rejects_bad_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIFTING_SALESFORCE_PASSWORD", PASSWORD)
    result = CliRunner().invoke(app, ["secrets", "create", "--prefix", "Prod_Blocks"])
    assert result.exit_code == 2
    assert "GIFTING_SECRET_BLOCK_PREFIX" in result.output


def _set_org(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIFTING_SALESFORCE_LOGIN_URL", "https://acme.my.salesforce.com")
    monkeypatch.setenv("GIFTING_SALESFORCE_USERNAME", "sync@acme.test")
    monkeypatch.setenv("GIFTING_SALESFORCE_CLIENT_ID", "3MVG9")
    monkeypatch.setenv("GIFTING_VENDOR_BASE_URL", "https://vendor.example.test")


def test_flow_settings_read_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    Secret(value=PASSWORD).save("read-test-salesforce-password", overwrite=True)
    Secret(value="from-block").save("read-test-salesforce-client-secret", overwrite=True)
    Secret(value="key-from-block").save("read-test-salesforce-private-key", overwrite=True)
    _set_org(monkeypatch)
    monkeypatch.setenv("GIFTING_SECRET_BLOCK_PREFIX", "read-test")
    monkeypatch.setenv("GIFTING_SALESFORCE_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("GIFTING_SALESFORCE_PRIVATE_KEY_FILE", "/etc/gifting/server.key")
    settings = load_settings_with_secrets()
    assert settings.salesforce_password is not None
    assert settings.salesforce_password.get_secret_value() == PASSWORD
    assert settings.salesforce_client_secret is not None
    # The environment wins over a block, and a key file over a key block.
    assert settings.salesforce_client_secret.get_secret_value() == CLIENT_SECRET
    assert settings.salesforce_private_key is None
    assert PASSWORD not in repr(settings)


def test_missing_block_named_in_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_org(monkeypatch)
    monkeypatch.setenv("GIFTING_SECRET_BLOCK_PREFIX", "absent-test")
    monkeypatch.setenv("GIFTING_SALESFORCE_CLIENT_SECRET", CLIENT_SECRET)
    with pytest.raises(ConfigurationError) as raised:
        load_settings_with_secrets()
    message = str(raised.value)
    assert "GIFTING_SALESFORCE_PASSWORD" in message
    assert "absent-test-salesforce-password" in message
    assert "absent-test-salesforce-client-secret" not in message
    assert CLIENT_SECRET not in message


def test_deployments_name_blocks_not_values() -> None:
    text = (PROJECT_ROOT / "prefect.yaml").read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    for deployment in document["deployments"]:
        env = deployment["work_pool"]["job_variables"]["env"]
        assert env["GIFTING_SECRET_BLOCK_PREFIX"] == "gifting", deployment["name"]
        for value in env.values():
            assert "prefect.blocks" not in str(value), deployment["name"]
