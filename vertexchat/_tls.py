"""The TLS context of the owned pool, from httpx-style ``verify=``, ``cert=`` and ``trust_env=``.

The names and meanings follow ``httpx.AsyncHTTPTransport``: ``verify`` is ``True`` (the system
default: ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when ``trust_env``, else certifi's bundle), ``False``
(no verification), a path to a CA bundle file or directory, or an ``ssl.SSLContext`` used as is;
``cert`` is a client certificate: a PEM file holding the key and chain, or ``(certfile,
keyfile)``, or ``(certfile, keyfile, password)``. Built without httpx's deprecation warnings
for the string and ``cert`` forms, which httpx 0.28 steers towards an ``SSLContext``.
"""

from __future__ import annotations

import os
import ssl

import httpx

__all__ = ["CertTypes", "VerifyTypes", "tls_context"]

VerifyTypes = ssl.SSLContext | str | bool
CertTypes = str | tuple[str, str] | tuple[str, str, str]


def tls_context(verify: VerifyTypes, cert: CertTypes | None, trust_env: bool) -> ssl.SSLContext:
    """An ``SSLContext`` that offers only HTTP/1.1 through ALPN (the pool speaks nothing else)."""
    if isinstance(verify, ssl.SSLContext):
        context = verify
    elif verify is True:
        context = httpx.create_ssl_context(verify=True, trust_env=trust_env)
    elif verify is False:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif isinstance(verify, str):
        location = os.fspath(verify)
        if os.path.isdir(location):
            context = ssl.create_default_context(capath=location)
        else:
            context = ssl.create_default_context(cafile=location)
    else:
        raise TypeError(f"verify must be a bool, a path or an ssl.SSLContext, not {verify!r}")
    if cert is not None:
        if isinstance(cert, str):
            context.load_cert_chain(cert)
        else:
            context.load_cert_chain(*cert)
    context.set_alpn_protocols(["http/1.1"])
    return context
