"""The certificate a TLS server presents, fetched from this host without trusting it (the point
is to look at it): an exercise's grader judges the apiserver's certificate by it."""

from __future__ import annotations

import ssl

from cryptography import x509


def served(host: str, port: int, timeout: float = 5.0) -> x509.Certificate | str:
    """The server's leaf certificate, or why it could not be had."""
    try:
        pem = ssl.get_server_certificate((host, port), timeout=timeout)
    except (OSError, ssl.SSLError) as exc:
        return f"{host}:{port}: {type(exc).__name__}: {exc}"
    return x509.load_pem_x509_certificate(pem.encode())
