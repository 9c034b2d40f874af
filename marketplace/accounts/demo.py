"""The demo data's accounts, and the check that none of their published passwords is in use.

The README prints the demo passwords, so an account that still has one is open to anybody.
``flask seed-demo`` refuses to run in production, and a production start refuses while any
account signs in with one of these passwords (see :func:`accounts_with_demo_passwords`).
"""

from __future__ import annotations

import sqlalchemy as sa
from werkzeug.security import check_password_hash

from marketplace.extensions import db
from marketplace.models import User

DEMO_FIRM = {
    "name": "Muster Maschinenbau GmbH", "vat_id": "DE123456788", "street": "Am Sande 1",
    "postcode": "21335", "city": "Lüneburg", "country": "DE", "contact_name": "Erika Mustermann",
    "phone": "04131 123456",
}
# The demo hub's address and legal details (example data with valid check digits), so that
# its documents are complete: an invoice of the demo passes the XRechnung and EN 16931 rules.
# Stored by ``flask seed-demo`` only where the hub has none yet.
DEMO_HUB_ADDRESS = {
    "name": "Druckhub Lüneburg", "street": "Am Sande 1", "postcode": "21335",
    "city": "Lüneburg", "phone": "+49 4131 000000", "email": "rechnung@druckhub.example",
}
DEMO_HUB_LEGAL = {
    "legal_name": "Druckhub Lüneburg GmbH (Demo)", "register_court": "Amtsgericht Lüneburg",
    "register_number": "HRB 000000", "vat_id": "DE136695976", "tax_number": "",
    "managing_director": "Anna Admin", "iban": "DE89370400440532013000",
    "bic": "COBADEFFXXX", "bank_name": "Demo-Bank", "payment_days": "14",
}
# (e-mail, password, role, name); the README names them all
DEMO_USERS = (
    ("firma@example.de", "demo-firma-2026", "firm", "Erika Mustermann"),
    ("technik@druckhub.de", "demo-technik-2026", "technician", "Tom Technik"),
    ("admin@druckhub.de", "demo-admin-2026", "admin", "Anna Admin"),
)
DEMO_PASSWORDS = tuple(password for _email, password, _role, _name in DEMO_USERS)


def accounts_with_demo_passwords() -> list[str]:
    """Return the e-mail addresses of active accounts that sign in with a demo password.

    Checked: the demo addresses and every staff account (technicians and admins: few, and the
    ones that matter most). Each check costs one password hash per demo password, so firm
    accounts beyond the demo firm's are not tried (a start-up would take minutes).
    """
    if not sa.inspect(db.engine).has_table(User.__tablename__):
        return []  # a new database before `flask db upgrade`: nobody can sign in yet
    demo_emails = [email for email, *_rest in DEMO_USERS]
    users = db.session.execute(
        sa.select(User).where(User.active.is_(True),
                              sa.or_(User.email.in_(demo_emails),
                                     User.role.in_(("technician", "admin"))))
        .order_by(User.id)
    ).scalars()
    return [user.email for user in users
            if any(check_password_hash(user.password_hash, p) for p in DEMO_PASSWORDS)]
