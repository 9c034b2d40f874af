"""English for the layout, error pages, accounts and e-mails (German source -> English)."""

EN = {
    # layout
    "Zum Inhalt springen": "Skip to content",
    "Hauptnavigation": "Main navigation",
    "Sprache": "Language",
    "Technik": "Technician",
    "Verwaltung": "Admin",
    "Abmelden": "Sign out",
    "Anmelden": "Sign in",
    "Registrieren": "Sign up",
    "3D-Druck für Unternehmen aus der Region": "3D printing for businesses in the region",
    "Teile": "Parts",
    "Aufträge": "Orders",
    "Warteschlange": "Queue",
    "Drucker": "Printers",
    "Übersicht": "Dashboard",
    "Einstellungen": "Settings",
    # job states in plain words
    "Eingegangen – wartet auf Freigabe": "Received – awaiting approval",
    "Freigegeben": "Approved",
    "In der Warteschlange": "Queued",
    "Wird an den Drucker gesendet": "Being sent to the printer",
    "Druck startet": "Print starting",
    "Wird gedruckt": "Printing",
    "Pausiert": "Paused",
    "Wird abgebrochen": "Being cancelled",
    "Gedruckt": "Printed",
    "Abholbereit": "Ready for pick-up",
    "Versendet": "Shipped",
    "Abgeholt": "Picked up",
    "Prüfung durch die Technik": "Being checked by a technician",
    "Fehlgeschlagen": "Failed",
    "Abgelehnt": "Rejected",
    "Storniert": "Cancelled",
    # error pages
    "Fehler": "Error",
    "Zur Startseite": "Go to the start page",
    "Ungültige Anfrage": "Bad request",
    "Die Anfrage war unvollständig oder fehlerhaft.": "The request was incomplete or malformed.",
    "Anmeldung nötig": "Sign-in required",
    "Bitte melden Sie sich an.": "Please sign in.",
    "Kein Zugriff": "Access denied",
    "Diese Seite ist für Ihr Konto nicht freigegeben.": "Your account may not open this page.",
    "Seite nicht gefunden": "Page not found",
    "Diese Seite gibt es nicht (mehr). Prüfen Sie die Adresse.":
        "This page does not exist (any more). Please check the address.",
    "Nicht erlaubt": "Not allowed",
    "Diese Aktion ist auf diesem Weg nicht möglich.": "This action is not possible this way.",
    "Datei zu groß": "File too large",
    "Die Datei ist größer als erlaubt. Bitte laden Sie eine kleinere Datei hoch.":
        "The file is larger than allowed. Please upload a smaller file.",
    "Zu viele Versuche": "Too many attempts",
    "Bitte warten Sie einige Minuten und versuchen Sie es dann erneut.":
        "Please wait a few minutes and try again.",
    "Interner Fehler": "Internal error",
    "Etwas ist schiefgelaufen. Wir kümmern uns darum; bitte versuchen Sie es später erneut.":
        "Something went wrong. We are looking into it; please try again later.",
    "Das Formular ist abgelaufen. Bitte laden Sie die Seite neu und senden Sie es erneut.":
        "The form has expired. Please reload the page and send it again.",
    # accounts: forms and pages
    "Abbrechen": "Cancel",
    "Firmendaten": "Company details",
    "So erscheint Ihre Firma auf Angeboten und Auftragsbestätigungen. Den Firmennamen ändert der "
    "Hub auf Anfrage.":
        "This is how your company appears on quotes and order confirmations. The hub changes the "
        "company name on request.",
    "Firmendaten speichern": "Save company details",
    "Die Firmendaten sind gespeichert.": "The company details are saved.",
    "Kolleginnen und Kollegen": "Colleagues",
    "Alle Konten Ihrer Firma sehen dieselben Teile und Aufträge und bekommen die E-Mails zu den "
    "Aufträgen.":
        "All accounts of your company see the same parts and orders and get the order e-mails.",
    "gesperrt": "disabled",
    "Kollegin oder Kollegen einladen": "Invite a colleague",
    "Einladen": "Invite",
    "Wir schicken eine E-Mail mit einem Link, mit dem sie ihr Passwort wählen.":
        "We send an e-mail with a link to choose a password.",
    "%(email)s ist eingeladen und bekommt eine E-Mail mit einem Link.":
        "%(email)s is invited and gets an e-mail with a link.",
    "Nur Firmenkonten können Kollegen einladen.": "Only business accounts can invite colleagues.",
    "Zu dieser E-Mail-Adresse gibt es schon ein Konto.":
        "There is already an account for this e-mail address.",
    "Einladung zum %(hub)s": "Invitation to %(hub)s",
    "%(inviter)s hat für Sie ein Konto der Firma %(firm)s beim %(hub)s angelegt. Dort laden Sie "
    "3D-Modelle hoch, sehen Preis und Liefertermin und verfolgen Ihre Aufträge.":
        "%(inviter)s has created an account of %(firm)s at %(hub)s for you. There you upload 3D "
        "models, see price and delivery date and follow your orders.",
    "Wählen Sie mit diesem Link Ihr Passwort (er gilt %(days)s Tage):":
        "Choose your password with this link (valid for %(days)s days):",
    "Ihre Anmeldung: %(email)s": "Your sign-in: %(email)s",
    "Bitte prüfen Sie die rot markierten Felder.": "Please check the fields marked in red.",
    "Ihr Konto": "Your account",
    "Angaben": "Details",
    "Firma": "Company",
    "Name": "Name",
    "Speichern": "Save",
    "Passwort ändern": "Change password",
    "Bisheriges Passwort": "Current password",
    "Sprache für Seiten und E-Mails": "Language for pages and e-mails",
    "Ihre Angaben sind gespeichert.": "Your details are saved.",
    "Das bisherige Passwort stimmt nicht.": "The current password is wrong.",
    "Ihr Passwort ist geändert.": "Your password has been changed.",
    "Bitte melden Sie sich an, um diese Seite zu sehen.": "Please sign in to see this page.",
    "Als Firma registrieren": "Sign up as a business",
    "An diese Adresse schicken wir Auftragsbestätigungen und den Stand Ihrer Aufträge.":
        "We send order confirmations and order updates to this address.",
    "Angemeldet bleiben": "Keep me signed in",
    "Ansprechpartner/in": "Contact person",
    "Ansprechpartner/in und Anmeldung": "Contact person and sign-in",
    "Bitte ausfüllen.": "Please fill in.",
    "Bitte geben Sie eine gültige E-Mail-Adresse an.": "Please enter a valid e-mail address.",
    "Der Link ist abgelaufen oder wurde schon benutzt. Fordern Sie einfach einen neuen an.":
        "The link has expired or has already been used. Simply ask for a new one.",
    "Die Passwörter stimmen nicht überein.": "The passwords do not match.",
    "Dieser Link gilt nicht mehr": "This link is no longer valid",
    "E-Mail-Adresse": "E-mail address",
    "E-Mail-Adresse oder Passwort ist falsch.": "E-mail address or password is wrong.",
    "Falls es zu dieser Adresse ein Konto gibt, haben wir eine E-Mail mit einem Link geschickt. "
    "Der Link gilt %(minutes)s Minuten.":
        "If there is an account for this address, we have sent an e-mail with a link. "
        "The link is valid for %(minutes)s minutes.",
    "Ihre Firma": "Your company",
    "Firmenname": "Company name",
    "Geben Sie die E-Mail-Adresse Ihres Kontos an. Wir schicken Ihnen einen Link, mit dem Sie "
    "ein neues Passwort wählen.":
        "Enter your account's e-mail address. We will send you a link to choose a new password.",
    "Ihr Passwort ist geändert. Bitte melden Sie sich mit dem neuen Passwort an.":
        "Your password has been changed. Please sign in with the new password.",
    "Jetzt als Firma registrieren": "Sign up as a business now",
    "Konto anlegen": "Create account",
    "Kostenlos und unverbindlich: Sie sehen Preise und Liefertermine sofort und bestellen erst, "
    "wenn alles passt.":
        "Free and without obligation: you see prices and delivery dates at once and only order "
        "when everything fits.",
    "Land": "Country",
    "Link schicken": "Send link",
    "Link ungültig": "Invalid link",
    "Melden Sie sich an, um Teile hochzuladen, Preise zu sehen und Aufträge zu verfolgen.":
        "Sign in to upload parts, see prices and follow your orders.",
    "Mindestens 10 Zeichen.": "At least 10 characters.",
    "Möchten Sie sich abmelden?": "Do you want to sign out?",
    "Neuen Link anfordern": "Ask for a new link",
    "Neues Passwort": "New password",
    "Neues Passwort wiederholen": "Repeat the new password",
    "Neues Passwort wählen": "Choose a new password",
    "Noch kein Konto?": "No account yet?",
    "Ort": "City",
    "PLZ": "Postcode",
    "Passwort": "Password",
    "Passwort speichern": "Save password",
    "Passwort vergessen": "Forgotten password",
    "Passwort vergessen?": "Forgotten your password?",
    "Passwort wiederholen": "Repeat password",
    "Schon registriert?": "Already registered?",
    "Sie sind abgemeldet.": "You are signed out.",
    # sessions (account page)
    "Angemeldete Geräte": "Signed-in devices",
    "Hier sind Sie gerade angemeldet. Beenden Sie Anmeldungen, die Sie nicht kennen, und ändern "
    "Sie dann Ihr Passwort.":
        "You are signed in here. End any sign-in you do not recognise, then change your "
        "password.",
    "Gerät": "Device",
    "Netz": "Network",
    "Angemeldet seit": "Signed in since",
    "Zuletzt aktiv": "Last active",
    "Endet": "Ends",
    "dieses Gerät": "this device",
    "angemeldet bleiben": "kept signed in",
    "Beenden": "End",
    "Auf allen Geräten abmelden": "Sign out on all devices",
    "Die Anmeldung auf dem anderen Gerät ist beendet.": "The sign-in on the other device has ended.",
    "Sie sind jetzt auf allen Geräten abgemeldet.": "You are now signed out on all devices.",
    "Ihr Passwort ist geändert. Auf allen anderen Geräten sind Sie abgemeldet.":
        "Your password has been changed. You are signed out on all other devices.",
    "Straße und Hausnummer": "Street and number",
    "Telefon": "Phone",
    "USt-IdNr.": "VAT ID",
    "Willkommen! Ihr Firmenkonto ist eingerichtet. Laden Sie jetzt Ihr erstes Teil hoch, um "
    "einen Preis zu sehen.":
        "Welcome! Your business account is ready. Upload your first part now to see a price.",
    "Zu viele fehlgeschlagene Anmeldungen. Bitte warten Sie %(minutes)s Minuten oder setzen Sie "
    "Ihr Passwort zurück.":
        "Too many failed sign-ins. Please wait %(minutes)s minutes or reset your password.",
    "Zum Beispiel DE123456788. Haben Sie keine, lassen Sie das Feld leer.":
        "For example DE123456788. If you do not have one, leave the field empty.",
    "Zur Anmeldung": "Go to sign-in",
    "Zurück zur Anmeldung": "Back to sign-in",
    "optional": "optional",
    "Deutschland": "Germany",
    "Österreich": "Austria",
    "Schweiz": "Switzerland",
    "Niederlande": "Netherlands",
    "Dänemark": "Denmark",
    "Polen": "Poland",
    "Frankreich": "France",
    "Belgien": "Belgium",
    "Luxemburg": "Luxembourg",
    "Tschechien": "Czechia",
    # accounts: messages from the service
    "Bitte geben Sie den Namen Ihrer Firma an.": "Please enter your company's name.",
    "Die USt-IdNr. beginnt mit dem Ländercode, z. B. DE123456789.":
        "The VAT ID starts with the country code, e.g. DE123456789.",
    "Das Format der USt-IdNr. stimmt nicht (Deutschland: DE und 9 Ziffern).":
        "The VAT ID's format is wrong (Germany: DE and 9 digits).",
    "Die Prüfziffer der USt-IdNr. stimmt nicht. Bitte prüfen Sie die Nummer.":
        "The VAT ID's check digit is wrong. Please check the number.",
    "Das Passwort muss mindestens 10 Zeichen lang sein.":
        "The password must be at least 10 characters long.",
    "Die Postleitzahl hat in Deutschland 5 Ziffern.": "German postcodes have 5 digits.",
    "Zu dieser E-Mail-Adresse gibt es schon ein Konto. Melden Sie sich an oder setzen Sie Ihr "
    "Passwort zurück.":
        "There is already an account for this e-mail address. Sign in or reset your password.",
    "Diese Firma ist bei uns schon registriert. Bitten Sie Ihre Kollegen oder den Hub, Ihnen ein "
    "Konto anzulegen.":
        "This company is already registered with us. Ask your colleagues or the hub to create "
        "an account for you.",
    # e-mails
    "Auftrag": "Order",
    "Auftrag %(number)s: %(state)s": "Order %(number)s: %(state)s",
    "Teil": "Part",
    "Menge": "Quantity",
    "%(n)s Stück": "%(n)s pcs",
    "Material": "Material",
    "Farbe": "Colour",
    "Abholung": "Pick-up",
    "beliebig": "any",
    "Schwarz": "Black",
    "Weiß": "White",
    "Grau": "Grey",
    "Rot": "Red",
    "Blau": "Blue",
    "Grün": "Green",
    "Gelb": "Yellow",
    "Orange": "Orange",
    "Transparent": "Transparent",
    "Natur": "Natural",
    "Silber": "Silver",
    "Stand": "Status",
    "Begründung": "Reason",
    "Voraussichtlich fertig": "Expected to be ready",
    "Ihre Bestellnummer": "Your purchase order",
    "Guten Tag %(name)s,": "Dear %(name)s,",
    "Guten Tag,": "Hello,",
    "Den aktuellen Stand Ihres Auftrags sehen Sie jederzeit hier:":
        "You can see the current status of your order at any time here:",
    "Mit freundlichen Grüßen": "Kind regards",
    "Ihr Team vom %(hub)s": "Your team at %(hub)s",
    "Neues Passwort für %(hub)s": "New password for %(hub)s",
    "Sie haben ein neues Passwort angefordert. Mit diesem Link wählen Sie es (er gilt "
    "%(minutes)s Minuten und nur einmal):":
        "You asked for a new password. Choose it with this link (valid for %(minutes)s minutes "
        "and only once):",
    "Wenn Sie das nicht waren, können Sie diese E-Mail ignorieren; Ihr Passwort bleibt dann "
    "unverändert.":
        "If this was not you, you can ignore this e-mail; your password stays unchanged.",
    "vielen Dank für Ihren Auftrag. Wir haben ihn erhalten und prüfen ihn jetzt. Sobald er "
    "freigegeben ist, hören Sie von uns.":
        "Thank you for your order. We have received it and are checking it now. You will hear "
        "from us as soon as it is approved.",
    "wir haben Ihren Auftrag geprüft und freigegeben. Er wird jetzt für den Druck vorbereitet.":
        "We have checked and approved your order. It is now being prepared for printing.",
    "der Druck Ihres Auftrags hat begonnen.": "Printing of your order has started.",
    "alle Teile Ihres Auftrags sind gedruckt. Wir prüfen sie und melden uns, sobald sie "
    "abholbereit sind oder versendet werden.":
        "All parts of your order are printed. We are checking them and will let you know as "
        "soon as they are ready for pick-up or shipped.",
    "Ihr Auftrag ist fertig und liegt zur Abholung bereit.":
        "Your order is finished and ready for pick-up.",
    "Ihr Auftrag ist fertig und wurde versendet.": "Your order is finished and has been shipped.",
    "leider können wir Ihren Auftrag so nicht drucken. Den Grund nennt Ihnen unsere Technik "
    "unten. Bei Fragen antworten Sie einfach auf diese E-Mail.":
        "Unfortunately we cannot print your order as it is. Our technician gives the reason "
        "below. If you have questions, simply reply to this e-mail.",
    "Ihr Auftrag wurde storniert.": "Your order has been cancelled.",
    "Teilweise storniert": "Partly cancelled",
    "ein Teil Ihres Auftrags wurde storniert: %(dropped)s von %(total)s Stück. Die übrigen "
    "Stücke bearbeiten wir wie vereinbart.":
        "Part of your order has been cancelled: %(dropped)s of %(total)s pieces. We carry on "
        "with the other pieces as agreed.",
    "beim Druck Ihres Auftrags ist leider ein Fehler aufgetreten. Unsere Technik kümmert sich "
    "darum und meldet sich bei Ihnen.":
        "Unfortunately, something went wrong while printing your order. Our technicians are "
        "taking care of it and will get in touch with you.",
}
