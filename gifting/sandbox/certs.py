"""A throwaway certificate authority and server certificate for the loopback HTTPS sandboxes.

simple-salesforce builds ``https://`` URLs only, so the sandboxes must speak TLS. Each call
creates a new CA with ``trustme``. The CA's private key stays in memory. Only its certificate is
written to disk, for clients to pass as ``verify=``.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import trustme

CA_FILE_NAME = "sandbox-ca.pem"


@dataclass(frozen=True)
class ServerTls:
    """TLS material for one server.

    Attributes:
        ca_pem_path: PEM file of the CA that signed the server certificate.
        context: Server-side SSL context that presents the certificate.
    """

    ca_pem_path: Path
    context: ssl.SSLContext


def create_server_tls(cert_dir: Path, hosts: Sequence[str]) -> ServerTls:
    """Create a CA and a certificate for ``hosts``, and write the CA certificate to ``cert_dir``.

    Args:
        cert_dir: Directory for the CA certificate, created if missing; an earlier file there
            is replaced.
        hosts: Host names or IP addresses the certificate must be valid for, such as
            ``127.0.0.1``.
    """
    cert_dir.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA(organization_name="gifting sandbox")
    server_cert = authority.issue_cert(*hosts)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    server_cert.configure_cert(context)
    ca_pem_path = cert_dir / CA_FILE_NAME
    authority.cert_pem.write_to_path(str(ca_pem_path))
    return ServerTls(ca_pem_path=ca_pem_path, context=context)
