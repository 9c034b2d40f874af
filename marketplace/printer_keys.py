"""Printer API keys encrypted at rest (Fernet from ``cryptography``).

An OctoPrint key gives full control of a heater, so the database holds only the Fernet token
(``Printer.api_key_encrypted``); ``Printer.api_key`` reads and writes the plain key through
here, and only the dispatcher and the printer controls read it.

Keys, newest first: ``PRINTER_KEY_SECRETS`` (comma-separated Fernet keys from the
configuration), then one derived from ``SECRET_KEY`` (so the hub works without setting one).
New tokens use the first key; every key decrypts. To rotate: put a new key in front
(``flask printers new-key`` makes one), run ``flask printers rotate-keys`` (re-encrypts every
printer's key with it), then drop the old key from the setting.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

__all__ = ["InvalidToken", "decrypt", "encrypt", "fernet", "new_key"]


def _derived_key(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"druckhub-printer-keys",
                info=b"printer api keys v1")
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


def fernet(config=None) -> MultiFernet:
    """The hub's printer-key cipher: configured keys first, the SECRET_KEY-derived one last."""
    config = config if config is not None else current_app.config
    keys = [k.strip() for k in str(config.get("PRINTER_KEY_SECRETS") or "").split(",")
            if k.strip()]
    ciphers = [Fernet(k) for k in keys]
    ciphers.append(Fernet(_derived_key(config["SECRET_KEY"])))
    return MultiFernet(ciphers)


def encrypt(plain: str) -> str:
    """Return the Fernet token of a printer's API key."""
    return fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    """Return the plain API key of a token (raises InvalidToken if no configured key fits)."""
    return fernet().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """Return ``token`` re-encrypted with the newest key."""
    return fernet().rotate(token.encode()).decode()


def new_key() -> str:
    """A fresh Fernet key for ``PRINTER_KEY_SECRETS``."""
    return Fernet.generate_key().decode()
