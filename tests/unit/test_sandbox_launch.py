"""The sandbox connection file: found while its process runs, removed once it is gone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gifting.sandbox.launch import CONNECTION_FILE, read_connection_file

CONNECTION = {
    "salesforce_login_url": "https://127.0.0.1:1",
    "salesforce_username": "u",
    "salesforce_password": "p",
    "salesforce_security_token": "t",
    "salesforce_client_id": "c",
    "salesforce_client_secret": "s",
    "salesforce_ca_bundle": "/tmp/ca.pem",
    "vendor_base_url": "http://127.0.0.1:2",
    "vendor_api_key": "k",
}


def test_file_of_running_process_is_read(tmp_path: Path) -> None:
    (tmp_path / CONNECTION_FILE).write_text(json.dumps({"pid": os.getpid(), **CONNECTION}))
    connection = read_connection_file(tmp_path)
    assert connection is not None
    assert connection.vendor_base_url == "http://127.0.0.1:2"


def test_file_of_dead_process_is_removed(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    path = tmp_path / CONNECTION_FILE
    path.write_text(json.dumps({"pid": int(finished.stdout), **CONNECTION}))
    assert read_connection_file(tmp_path) is None
    assert not path.exists()
