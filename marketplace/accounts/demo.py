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
# The demo hub's terms and privacy notice: a sample to start from, marked as such (a hub
# writes its own with its lawyer). Stored by ``flask seed-demo`` only where the hub has none.
DEMO_TERMS = """Muster für die Demo – keine Rechtsberatung. Der Hub ersetzt diesen Text in den \
Einstellungen durch seine eigenen AGB.

## § 1 Geltungsbereich
Diese Bedingungen gelten für alle Aufträge über den 3D-Druck von Teilen, die Unternehmen \
(§ 14 BGB) über dieses Portal, seine Schnittstelle oder schriftlich erteilen. Abweichende \
Bedingungen des Auftraggebers gelten nur, wenn wir ihnen schriftlich zustimmen.

## § 2 Angebot und Vertrag
Das Angebot nennt Preis, Material, Stückzahl und Liefertermin und gilt bis zu dem darin \
genannten Datum. Mit der Bestellung nimmt der Auftraggeber es verbindlich an; damit kommt der \
Vertrag zustande, wir bestätigen ihn per E-Mail. Ergibt die Prüfung der Dateien vor dem Druck, \
dass ein Teil so nicht druckbar ist, können beide Seiten vom Vertrag zurücktreten.

## § 3 Dateien und Rechte
Der Auftraggeber versichert, dass er die Rechte an den hochgeladenen Dateien hat und ihr Druck \
keine Rechte Dritter verletzt. Wir verwenden die Dateien nur für die Prüfung, das Angebot und \
den Druck.

## § 4 Preise und Zahlung
Alle Preise verstehen sich zuzüglich der gesetzlichen Umsatzsteuer. Rechnungen sind innerhalb \
des auf der Rechnung genannten Zahlungsziels ohne Abzug zahlbar.

## § 5 Lieferung und Abholung
Liefertermine sind voraussichtliche Termine. Die Teile werden abgeholt oder auf Kosten des \
Auftraggebers versandt, wie bei der Bestellung gewählt.

## § 6 Beschaffenheit und Gewährleistung
Gedruckte Teile zeigen die verfahrenstypischen Merkmale des FDM-Drucks (Schichtlinien, \
Maßabweichungen im Rahmen der Druckgenauigkeit, raue Stellen an Stützstrukturen). Bestellt der \
Auftraggeber ohne Stützen, trägt er das Risiko der Überhänge. Mängel sind innerhalb von sieben \
Tagen nach Erhalt anzuzeigen (§ 377 HGB).

## § 7 Schlussbestimmungen
Es gilt deutsches Recht. Gerichtsstand ist der Sitz des Hubs."""
DEMO_PRIVACY = """Muster für die Demo – keine Rechtsberatung. Der Hub ersetzt diesen Text in den \
Einstellungen durch seine eigene Datenschutzerklärung.

## Verantwortlicher
Verantwortlich ist der im Impressum genannte Betreiber des Hubs.

## Welche Daten wir verarbeiten
Konto: Name, E-Mail-Adresse und ein Passwort-Hash der Nutzer, Name, Anschrift und \
USt-IdNr. der Firma. Aufträge: hochgeladene Dateien, Angebote, Bestellungen, Rechnungen und der \
Verlauf jedes Druckauftrags. Technisch: ein Sitzungs-Cookie für die Anmeldung; zu jeder \
Anmeldung Zeitpunkt, IP-Adresse und Browser (damit Sie Ihre Anmeldungen sehen und beenden \
können); IP-Adressen kurzzeitig, um Anfragen je Absender zu begrenzen (Schutz vor Missbrauch). \
Ihr Browser merkt sich auf Ihrem Gerät die zuletzt gewählten Optionen eines Teils (Material, \
Stückzahl, …), damit Sie es so wiederfinden. Wir setzen keine Cookies zur Analyse oder Werbung.

## Zweck und Rechtsgrundlage
Wir verarbeiten die Daten, um Angebote zu erstellen und Aufträge auszuführen (Art. 6 Abs. 1 \
lit. b DSGVO), um gesetzliche Pflichten zu erfüllen, etwa die Aufbewahrung von Rechnungen \
(Art. 6 Abs. 1 lit. c DSGVO), und um den Dienst vor Missbrauch zu schützen (Art. 6 Abs. 1 \
lit. f DSGVO).

## Speicherdauer
Rechnungen bewahren wir nach § 147 AO und § 14b UStG acht Jahre auf. Ein Konto und seine Daten \
können auf der Kontoseite heruntergeladen und gelöscht werden.

## Ihre Rechte
Sie haben das Recht auf Auskunft, Berichtigung, Löschung, Einschränkung der Verarbeitung, \
Datenübertragbarkeit und Widerspruch sowie auf Beschwerde bei einer Aufsichtsbehörde, in \
Niedersachsen bei der Landesbeauftragten für den Datenschutz."""
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
