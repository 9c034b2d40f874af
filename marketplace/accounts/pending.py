"""Accounts that exist only once the address confirms: a firm's sign-up and an invitation.

Nobody can take an address they do not read. A sign-up or an invitation mails a link to the
address and keeps a :class:`PendingAccount`; the account is made when the link is followed.
If the address already has an account, that address gets a mail saying so instead, and the
page answers exactly as it would otherwise: the forms never tell whether an address is known.
Services add and flush; the caller commits.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from marketplace.accounts import operations as accounts
from marketplace.extensions import db
from marketplace.i18n import N_
from marketplace.models import Firm, PendingAccount, User, utcnow


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _new(kind: str, email: str, max_age_s: int, **values) -> tuple[PendingAccount, str]:
    now = utcnow()
    db.session.execute(sa.delete(PendingAccount).where(PendingAccount.expires_at < now))
    secret = secrets.token_urlsafe(32)
    row = PendingAccount(kind=kind, email=email, secret_sha256=_sha256(secret), created_at=now,
                         expires_at=now + timedelta(seconds=max_age_s), **values)
    db.session.add(row)
    db.session.flush()
    return row, f"{row.public_id}.{secret}"


def find(token: str, kind: str) -> PendingAccount | None:
    """Return the unused, unexpired pending account of ``kind`` this link's token opens."""
    public_id, _dot, secret = (token or "").partition(".")
    if not public_id or not secret or len(token) > 200:
        return None
    row = db.session.execute(sa.select(PendingAccount).where(
        PendingAccount.public_id == public_id, PendingAccount.kind == kind)).scalar()
    if (row is None or not hmac.compare_digest(row.secret_sha256, _sha256(secret))
            or row.used_at is not None or row.expires_at <= utcnow()):
        return None
    return row


# --- a firm's sign-up ------------------------------------------------------------------------


def request_signup(info: accounts.FirmSignup) -> None:
    """Check the sign-up and mail the address: a link to confirm, or "you have an account".

    Raises AccountError for bad input (the same whether the address is known or not). The
    password is hashed either way, so both answers take as long.
    """
    from marketplace.mail import notifications

    company = info.company.strip()
    problems = [] if company else [("company", N_("Bitte geben Sie den Namen Ihrer Firma an."))]
    (vat_id, country, postcode), wrong = accounts.address_problems(info.vat_id, info.country,
                                                                   info.postcode)
    problems += wrong
    if problem := accounts.password_problem(info.password):
        problems.append(("password", problem))
    if problems:  # all at once: the form shows each at its field
        raise accounts.AccountError.of(problems)
    if accounts.find_firm(company) is not None:
        # never hand an existing firm's orders to whoever types its name
        raise accounts.AccountError(N_(
            "Diese Firma ist bei uns schon registriert. Bitten Sie Ihre Kollegen oder den Hub, "
            "Ihnen ein Konto anzulegen."), "company")
    email = accounts.normalise_email(info.email)
    language = info.language if info.language in ("de", "en") else "de"
    password_hash = accounts.hash_password(info.password)
    existing = accounts.find_user(email)
    if existing is not None:
        notifications.queue_account_exists(email, existing.language or language)
        return
    data = {"company": company, "vat_id": vat_id, "street": info.street.strip(),
            "postcode": postcode, "city": info.city.strip(), "country": country,
            "contact_name": info.contact_name.strip(), "phone": info.phone.strip()}
    if info.guest_key_sha256:
        data["guest_key_sha256"] = info.guest_key_sha256
    _row, token = _new("signup", email, current_app.config["SIGNUP_CONFIRM_MAX_AGE_S"],
                       password_hash=password_hash, data=data, language=language)
    notifications.queue_signup_confirmation(email, language, company, token)


def confirm_signup(row: PendingAccount) -> User:
    """Make the firm and its first user from a confirmed sign-up; AccountError if taken since."""
    data = row.data or {}
    if accounts.find_user(row.email) is not None:
        raise accounts.AccountError(N_("Zu dieser E-Mail-Adresse gibt es schon ein Konto. Melden "
                                       "Sie sich an oder setzen Sie Ihr Passwort zurück."))
    if accounts.find_firm(data.get("company", "")) is not None:
        raise accounts.AccountError(N_(
            "Diese Firma ist bei uns schon registriert. Bitten Sie Ihre Kollegen oder den Hub, "
            "Ihnen ein Konto anzulegen."))
    firm = Firm(name=data["company"], vat_id=data.get("vat_id") or None,
                street=data.get("street"), postcode=data.get("postcode"), city=data.get("city"),
                country=data.get("country") or "DE", contact_name=data.get("contact_name"),
                phone=data.get("phone") or None)
    user = User(email=row.email, password_hash=row.password_hash, role="firm", firm=firm,
                name=data.get("contact_name"), language=row.language)
    db.session.add_all([firm, user])
    row.used_at, row.password_hash = utcnow(), None
    db.session.flush()
    return user


# --- invitations -----------------------------------------------------------------------------


def invite(inviter: User, email: str, name: str) -> None:
    """Invite a colleague into ``inviter``'s firm: mail a link (or, if the address has an
    account already, a note saying so). No account exists until the link is followed."""
    from marketplace.mail import notifications

    if inviter.role != "firm" or inviter.firm is None:
        raise accounts.AccountError(N_("Nur Firmenkonten können Kollegen einladen."))
    email = accounts.normalise_email(email)
    existing = accounts.find_user(email)
    if existing is not None:
        notifications.queue_invitation_to_existing(email, existing.language, inviter)
        return
    _row, token = _new("invite", email, current_app.config["INVITATION_MAX_AGE_S"],
                       firm_id=inviter.firm_id, invited_by_id=inviter.id,
                       data={"name": name.strip()}, language=inviter.language)
    notifications.queue_invitation(email, inviter.language, name.strip(), inviter, token)


def accept_invitation(row: PendingAccount, name: str, password: str) -> User:
    """Make the invited colleague's account with the password they chose."""
    if problem := accounts.password_problem(password):
        raise accounts.AccountError(problem, "password")
    if accounts.find_user(row.email) is not None or row.firm is None:
        raise accounts.AccountError(N_("Diese Einladung gilt nicht mehr."))
    user = User(email=row.email, password_hash=accounts.hash_password(password), role="firm",
                firm=row.firm, name=name.strip() or (row.data or {}).get("name"),
                language=row.language)
    db.session.add(user)
    row.used_at = utcnow()
    db.session.flush()
    return user
