"""Accounts: firm sign-up, password checks, the sign-in rate limit, password reset tokens.

Services add and flush; the caller commits. Messages for people are German source strings
(translated where they are shown).
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from stdnum import exceptions as stdnum_errors
from stdnum.ch import uid as ch_uid
from stdnum.ch import vat as ch_vat
from stdnum.de import leitweg
from stdnum.eu import vat as eu_vat
from werkzeug.security import check_password_hash, generate_password_hash

from marketplace.accounts import sessions
from marketplace.extensions import db
from marketplace.i18n import N_
from marketplace.models import (
    Firm,
    LoginAttempt,
    Notification,
    User,
    UserSession,
    utcnow,
)

MIN_PASSWORD_LENGTH = 10
ROLES = ("firm", "technician", "admin")
_RESET_SALT = "druckhub-password-reset"
# compared against when the account does not exist, so a wrong e-mail costs as long as a
# wrong password (no probing for accounts by timing); one per hash method
_dummy_hashes: dict[str, str] = {}

class AccountError(Exception):
    """A sign-up or account change that cannot be done; ``field`` names the form field.

    ``problems`` lists every (field, message) found (the first is ``field``/``message``): a
    form shows them all at once, not one per attempt."""

    def __init__(self, message: str, field: str | None = None,
                 more: tuple[tuple[str | None, str], ...] = ()) -> None:
        super().__init__(message)
        self.message, self.field = message, field
        self.problems = [(field, message), *more]

    @classmethod
    def of(cls, problems: list[tuple[str | None, str]]) -> AccountError:
        """One error for several (field, message) problems (at least one)."""
        (field, message), *more = problems
        return cls(message, field, tuple(more))


class LoginThrottledError(Exception):
    """Too many failed sign-ins from this address (for this account); wait ``retry_after_s``."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class InvalidCredentialsError(Exception):
    """Unknown e-mail, wrong password or a deactivated account."""


# --- small helpers ----------------------------------------------------------------------------


def normalise_email(email: str) -> str:
    """Return the e-mail address as stored: trimmed, lower case."""
    return (email or "").strip().lower()


def normalise_vat_id(vat_id: str) -> str:
    """Upper-case the VAT id, drop spaces, dots, dashes ("de 123 456 788" -> "DE123456788")."""
    return re.sub(r"[\s.\-]", "", vat_id or "").upper()


def vat_id_problem(vat_id: str) -> str | None:
    """Return why ``vat_id`` (normalised) is not a valid VAT id, or None if it is one.

    python-stdnum checks the format and check digits of every EU country (prefix "EL" or "GR"
    for Greece, "XI" for Northern Ireland) and Switzerland's "CHE..." with or without "MWST".
    """
    if vat_id.startswith("CH"):
        swiss_vat = vat_id.endswith(("MWST", "TVA", "IVA", "TPV"))
        validate = ch_vat.validate if swiss_vat else ch_uid.validate
    elif vat_id[:2].lower() in eu_vat.MEMBER_STATES or vat_id[:2] == "EL":
        validate = eu_vat.validate
    else:
        return N_("Die USt-IdNr. beginnt mit dem Ländercode, z. B. DE123456789.")
    try:
        validate(vat_id)
    except stdnum_errors.InvalidChecksum:
        return N_("Die Prüfziffer der USt-IdNr. stimmt nicht. Bitte prüfen Sie die Nummer.")
    except stdnum_errors.ValidationError:
        return N_("Das Format der USt-IdNr. stimmt nicht (Deutschland: DE und 9 Ziffern).")
    return None


def normalise_leitweg_id(value: str) -> str:
    """Upper-case the Leitweg-ID and drop spaces ("991-03730-19")."""
    return re.sub(r"\s", "", value or "").upper()


def leitweg_id_problem(value: str) -> str | None:
    """Return why ``value`` (normalised) is not a Leitweg-ID, or None if it is one (format and
    check digits, by python-stdnum)."""
    if not leitweg.is_valid(value):
        return N_("Keine gültige Leitweg-ID (z. B. 991-03730-19; Prüfziffer am Ende).")
    return None


def password_problem(password: str) -> str | None:
    """Return why ``password`` is too weak, or None."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        return N_("Das Passwort muss mindestens 10 Zeichen lang sein.")
    return None


def hash_password(password: str) -> str:
    """Hash a password with ``PASSWORD_HASH_METHOD`` (werkzeug; scrypt unless configured)."""
    return generate_password_hash(password, method=_hash_method())


def _hash_method() -> str:
    return current_app.config.get("PASSWORD_HASH_METHOD") or "scrypt"


def _dummy_hash() -> str:
    method = _hash_method()
    if method not in _dummy_hashes:
        _dummy_hashes[method] = generate_password_hash("druckhub-timing-equaliser", method=method)
    return _dummy_hashes[method]


def find_user(email: str) -> User | None:
    """Return the user with this e-mail address (case-insensitive), or None."""
    return db.session.execute(
        sa.select(User).where(sa.func.lower(User.email) == normalise_email(email))
    ).scalar()


def find_firm(name: str) -> Firm | None:
    """Return the firm called ``name`` (case-insensitive, trimmed), or None."""
    return db.session.execute(
        sa.select(Firm).where(sa.func.lower(Firm.name) == (name or "").strip().lower())
    ).scalar()


# --- sign-up and users ------------------------------------------------------------------------


def address_problems(vat_id: str, country: str, postcode: str
                     ) -> tuple[tuple[str, str, str], list[tuple[str, str]]]:
    """The normalised (VAT id, country, postcode) and every (field, message) wrong with them."""
    problems = []
    vat_id = normalise_vat_id(vat_id)
    if vat_id and (problem := vat_id_problem(vat_id)):
        problems.append(("vat_id", problem))
    country = (country or "DE").strip().upper()
    postcode = (postcode or "").strip()
    if problem := postcode_problem(country, postcode):
        problems.append(("postcode", problem))
    return (vat_id, country, postcode), problems


def postcode_problem(country: str, postcode: str) -> str | None:
    """What is wrong with a postcode in ``country`` (German ones have five digits), or None."""
    if (country or "DE").strip().upper() == "DE" and not re.fullmatch(r"\d{5}",
                                                                     (postcode or "").strip()):
        return N_("Die Postleitzahl hat in Deutschland 5 Ziffern.")
    return None


@dataclass(frozen=True)
class FirmSignup:
    """What a firm enters to open an account."""

    company: str
    contact_name: str
    email: str
    password: str
    street: str
    postcode: str
    city: str
    country: str = "DE"
    vat_id: str = ""
    phone: str = ""
    language: str = "de"
    # the sha256 of the guest key of the browser that signed up: its parts join the new firm
    guest_key_sha256: str | None = None


def create_user(
    email: str, role: str, password: str, *, firm_name: str | None = None, name: str | None = None,
    language: str = "de",
) -> tuple[User, bool]:
    """Create a user (and the firm, for role firm, if it does not exist yet).

    Returns ``(user, firm_created)``; raises AccountError for an unknown role, a missing firm
    name, a short password or a taken e-mail address.
    """
    if role not in ROLES:
        raise AccountError(f"Unbekannte Rolle {role!r} (firm, technician oder admin).", "role")
    if problem := password_problem(password):
        raise AccountError(problem, "password")
    email = normalise_email(email)
    if "@" not in email:
        raise AccountError(N_("Bitte geben Sie eine gültige E-Mail-Adresse an."), "email")
    if find_user(email) is not None:
        raise AccountError(f"Es gibt schon ein Konto für {email}.", "email")
    firm, firm_created = None, False
    if role == "firm":
        if not (firm_name or "").strip():
            raise AccountError(N_("Für Firmenkonten wird der Firmenname gebraucht (--firm)."),
                               "firm")
        firm = find_firm(firm_name)
        if firm is None:
            firm, firm_created = Firm(name=firm_name.strip()), True
            db.session.add(firm)
    user = User(email=email, password_hash=hash_password(password), role=role, firm=firm,
                name=name, language=language)
    db.session.add(user)
    db.session.flush()
    return user, firm_created


def set_password(user: User, password: str, *, keep_session: UserSession | None = None) -> None:
    """Set a new password: every reset link sent before and every sign-in end.

    ``keep_session`` (the sign-in that changed it, on the account page) stays.
    """
    if problem := password_problem(password):
        raise AccountError(problem, "password")
    user.password_hash = hash_password(password)
    db.session.execute(sa.delete(LoginAttempt).where(LoginAttempt.email == user.email))
    sessions.end_all(user, keep=keep_session)


# --- sign-in with a rate limit ----------------------------------------------------------------


def _failures_since(since, **where) -> int:
    query = sa.select(sa.func.count()).select_from(LoginAttempt).where(LoginAttempt.at >= since)
    for column, value in where.items():
        query = query.where(getattr(LoginAttempt, column) == value)
    return db.session.execute(query).scalar_one()


def begin_login(email: str, ip: str) -> LoginAttempt:
    """Record a sign-in attempt before anything is checked; the caller commits at once.

    The row counts against the limit from this moment, so parallel attempts see each other:
    of N attempts sent at once, at most ``LOGIN_MAX_FAILURES`` get their password checked
    (the k-th row committed counts at least k rows, and a checked attempt's row stays).
    """
    attempt = LoginAttempt(ip=ip, email=normalise_email(email), at=utcnow())
    db.session.add(attempt)
    db.session.flush()
    return attempt


def authenticate(attempt: LoginAttempt, password: str) -> User:
    """Return the user for the attempt's e-mail and ``password`` (rows counted per IP+account
    and per IP, the attempt's own included; :func:`begin_login` committed it).

    Raises LoginThrottledError over the limit (the attempt's row is removed: nothing was
    checked) and InvalidCredentialsError (the row stays as a failure) otherwise; a success
    clears the failures of this IP and account. The caller commits.
    """
    config = current_app.config
    ip, email = attempt.ip, attempt.email
    window = timedelta(seconds=config["LOGIN_FAILURE_WINDOW_S"])
    since = utcnow() - window
    if (_failures_since(since, ip=ip, email=email) > config["LOGIN_MAX_FAILURES"]
            or _failures_since(since, ip=ip) > config["LOGIN_MAX_FAILURES_PER_IP"]):
        # a statement, not session.delete(): a parallel success may have removed the row
        db.session.execute(sa.delete(LoginAttempt).where(LoginAttempt.id == attempt.id))
        oldest = db.session.execute(
            sa.select(sa.func.min(LoginAttempt.at)).where(
                LoginAttempt.at >= since, LoginAttempt.ip == ip, LoginAttempt.id != attempt.id)
        ).scalar()
        retry = int(((oldest or since) + window - utcnow()).total_seconds()) + 1
        raise LoginThrottledError(max(retry, 1))
    user = find_user(email)
    if user is None:
        check_password_hash(_dummy_hash(), password or "")
    if (user is None or not check_password_hash(user.password_hash, password or "")
            or not user.active):
        db.session.execute(sa.delete(LoginAttempt).where(LoginAttempt.at < since))
        raise InvalidCredentialsError(email)
    db.session.execute(
        sa.delete(LoginAttempt).where(LoginAttempt.ip == ip, LoginAttempt.email == email))
    return user


# --- password reset ---------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_RESET_SALT)


def password_fingerprint(user: User) -> str:
    """A short digest of the password hash: changes whenever the password changes.

    Reset tokens carry it, so a new password ends every older link.
    """
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:20]


_fingerprint = password_fingerprint


def make_reset_token(user: User) -> str:
    """Return a signed token that lets ``user`` choose a new password once, for a while."""
    return _serializer().dumps({"u": user.id, "p": _fingerprint(user)})


def user_for_reset_token(token: str) -> User | None:
    """Return the user a valid, unused, unexpired token belongs to, else None."""
    config = current_app.config
    try:
        data, signed_at = _serializer().loads(token, return_timestamp=True)
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict):
        return None
    max_age = config["PASSWORD_RESET_MAX_AGE_S"]
    age_s = time.time() - signed_at.timestamp()
    if age_s > max_age or age_s < -60:
        return None
    user = db.session.get(User, data.get("u")) if isinstance(data.get("u"), int) else None
    if user is None or not user.active or data.get("p") != _fingerprint(user):
        return None
    return user


def request_password_reset(email: str) -> bool:
    """Mail the address: a reset link if an active account has it, else a note that none does.

    Both cases do the same work (one count, one token, one mail, at most
    ``PASSWORD_RESET_MAILS_PER_HOUR`` per address and hour), so neither the page nor its
    timing tells whether the address has an account. Returns whether a mail was queued; the
    caller commits.
    """
    from marketplace.mail import notifications

    email = normalise_email(email)
    user = find_user(email)
    recent = db.session.execute(
        sa.select(sa.func.count()).select_from(Notification).where(
            Notification.to_address == email, Notification.kind == "password_reset",
            Notification.created_at >= utcnow() - timedelta(hours=1))
    ).scalar_one()
    if recent >= current_app.config["PASSWORD_RESET_MAILS_PER_HOUR"]:
        return False
    if user is None or not user.active:
        _serializer().dumps({"u": 0, "p": ""})  # the token a known address would cost
        notifications.queue_password_reset_unknown(email, _request_language())
        return True
    notifications.queue_password_reset(user, make_reset_token(user))
    return True


def _request_language() -> str:
    from marketplace.i18n import get_language

    try:
        return get_language()
    except RuntimeError:  # outside a request
        return "de"


# --- colleagues -------------------------------------------------------------------------------


def colleagues(user: User) -> list[User]:
    """The other users of ``user``'s firm."""
    if user.firm_id is None:
        return []
    return list(db.session.execute(
        sa.select(User).where(User.firm_id == user.firm_id, User.id != user.id)
        .order_by(User.name, User.email)
    ).scalars())


def update_firm(firm: Firm, *, vat_id: str, street: str, postcode: str, city: str, country: str,
                contact_name: str, phone: str, invoice_email: str | None = None,
                leitweg_id: str | None = None) -> Firm:
    """Change the firm's address and contact (its name stays: the hub changes that); with
    ``invoice_email``/``leitweg_id`` (empty: none) also where invoices go and its Leitweg-ID."""
    (vat_id, country, postcode), problems = address_problems(vat_id, country, postcode)
    if leitweg_id is not None:
        leitweg_id = normalise_leitweg_id(leitweg_id)
        if problem := leitweg_id and leitweg_id_problem(leitweg_id):
            problems.append(("leitweg_id", problem))
    if invoice_email is not None:
        invoice_email = normalise_email(invoice_email)
        if invoice_email and "@" not in invoice_email:
            problems.append(("invoice_email", N_("Bitte eine gültige E-Mail-Adresse angeben.")))
    if problems:  # all at once: the form shows each at its field
        raise AccountError.of(problems)
    if leitweg_id is not None:
        firm.leitweg_id = leitweg_id or None
    if invoice_email is not None:
        firm.invoice_email = invoice_email or None
    firm.vat_id = vat_id or None
    firm.street, firm.postcode, firm.city = street.strip(), postcode, city.strip()
    firm.country, firm.contact_name = country, contact_name.strip()
    firm.phone = phone.strip() or None
    db.session.flush()
    return firm
