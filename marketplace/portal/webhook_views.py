"""Webhook pages: the firm's (/account/webhooks) and, with the same routes, the hub admins'
(/hub/webhooks, see marketplace.hub.webhook_views). Thin views over marketplace.webhooks."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from wtforms import SelectMultipleField, StringField, widgets
from wtforms.validators import Length

from marketplace import audit
from marketplace.auth import role_required
from marketplace.extensions import db
from marketplace.i18n import gettext as _
from marketplace.i18n import lazy_gettext as _l
from marketplace.portal import bp
from marketplace.portal.forms import Form
from marketplace.webhooks import delivery, endpoints, events_for
from marketplace.webhooks.models import WebhookEndpoint


class EndpointForm(Form):
    url = StringField(_l("Adresse (https://…)"), validators=[Length(max=2048)])
    events = SelectMultipleField(_l("Ereignisse"), choices=[],
                                 widget=widgets.ListWidget(prefix_label=False),
                                 option_widget=widgets.CheckboxInput())
    description = StringField(_l("Beschreibung"), validators=[Length(max=200)])


class ButtonForm(Form):
    """Only the CSRF token: the buttons are POSTs."""


def _form(firm_id: int | None, **kwargs) -> EndpointForm:
    form = EndpointForm(prefix="hook", **kwargs)
    form.events.choices = [(name, f"{name} – {_(text)}")
                           for name, text in events_for(firm_id).items()]
    return form


def register_routes(blueprint: Blueprint, prefix: str, owner: Callable[[], int | None],
                    guard: Callable, layout: str) -> None:
    """Add the webhook pages under ``prefix`` to ``blueprint``; ``owner()`` is the firm id
    whose endpoints they show (None: the hub's), ``guard`` the role decorator."""
    name = blueprint.name

    def endpoint_or_404(public_id: str) -> WebhookEndpoint:
        found = endpoints.find(public_id, owner())
        if found is None:
            abort(404)
        return found

    def page(form: EndpointForm, status: int = 200):
        rows = endpoints.endpoints_of(owner())
        return render_template("webhooks/endpoints.html", layout=layout, bp=name,
                               endpoints=rows, form=form, buttons=ButtonForm(),
                               hub=owner() is None), status

    def actor() -> str:
        return current_user.email

    @guard
    def webhooks():
        return page(_form(owner()))

    @guard
    def webhook_create():
        form = _form(owner())
        if not form.validate_on_submit():
            return page(form, 400)
        firm = current_user.firm if owner() is not None else None
        try:
            endpoint, _secret = endpoints.create(firm, form.url.data or "", form.events.data,
                                                 description=form.description.data or "",
                                                 actor=actor())
        except endpoints.EndpointError as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(_(exc.message, **exc.params))
            return page(form, 400)
        audit.record("webhook_added", actor=current_user, target=endpoint.url,
                     detail={"firm_id": endpoint.firm_id, "events": endpoint.events})
        db.session.commit()
        flash(_("Der Endpunkt ist angelegt. Prüfen Sie die Signatur jeder Nachricht mit dem "
                "Geheimnis unten."), "success")
        return redirect(url_for(f"{name}.webhook_detail", public_id=endpoint.public_id), 303)

    @guard
    def webhook_detail(public_id: str):
        endpoint = endpoint_or_404(public_id)
        return render_template(
            "webhooks/endpoint.html", layout=layout, bp=name, endpoint=endpoint,
            secret=endpoints.secret_of(endpoint), deliveries=endpoints.deliveries_of(endpoint),
            form=_form(owner(), obj=endpoint), buttons=ButtonForm(), hub=owner() is None)

    @guard
    def webhook_update(public_id: str):
        endpoint = endpoint_or_404(public_id)
        form = _form(owner())
        if form.validate_on_submit():
            try:
                endpoints.update(endpoint, url=form.url.data or "", events=form.events.data,
                                 description=form.description.data or "")
            except endpoints.EndpointError as exc:
                db.session.rollback()
                flash(_(exc.message, **exc.params), "error")
            else:
                db.session.commit()
                flash(_("Der Endpunkt ist gespeichert."), "success")
        return redirect(url_for(f"{name}.webhook_detail", public_id=public_id), 303)

    @guard
    def webhook_action(public_id: str, change: str):
        endpoint = endpoint_or_404(public_id)
        if not ButtonForm().validate_on_submit():
            abort(400)
        if change == "rotate":
            endpoints.rotate_secret(endpoint)
            audit.record("webhook_secret_rotated", actor=current_user, target=endpoint.url)
            flash(_("Neues Geheimnis erstellt. Das bisherige signiert noch bis %(until)s mit; "
                    "stellen Sie Ihren Empfänger bis dahin um.",
                    until=endpoint.previous_secret_until.strftime("%d.%m.%Y %H:%M UTC")),
                  "success")
        elif change == "enable":
            endpoints.enable(endpoint)
            flash(_("Der Endpunkt ist wieder aktiv."), "success")
        elif change == "disable":
            delivery.disable(endpoint, reason=_("Von Hand abgeschaltet."))
            flash(_("Der Endpunkt ist abgeschaltet."), "success")
        elif change == "delete":
            url = endpoint.url
            endpoints.remove(endpoint)
            audit.record("webhook_removed", actor=current_user, target=url)
            db.session.commit()
            flash(_("Der Endpunkt ist gelöscht."), "success")
            return redirect(url_for(f"{name}.webhooks"), 303)
        else:
            abort(404)
        db.session.commit()
        return redirect(url_for(f"{name}.webhook_detail", public_id=public_id), 303)

    @guard
    def webhook_replay(public_id: str, delivery_id: str):
        endpoint = endpoint_or_404(public_id)
        row = endpoints.find_delivery(delivery_id, endpoint)
        if row is None:
            abort(404)
        if not ButtonForm().validate_on_submit():
            abort(400)
        try:
            delivery.replay(row, actor())
        except delivery.ReplayError as exc:
            db.session.rollback()
            flash(_(exc.message), "error")
        else:
            db.session.commit()  # sent after this commit
            flash(_("Die Nachricht wird erneut gesendet."), "success")
        return redirect(url_for(f"{name}.webhook_detail", public_id=public_id) + "#deliveries",
                        303)

    blueprint.add_url_rule(prefix, "webhooks", webhooks, methods=["GET"])
    blueprint.add_url_rule(prefix, "webhook_create", webhook_create, methods=["POST"])
    blueprint.add_url_rule(f"{prefix}/<public_id>", "webhook_detail", webhook_detail,
                           methods=["GET"])
    blueprint.add_url_rule(f"{prefix}/<public_id>", "webhook_update", webhook_update,
                           methods=["POST"])
    blueprint.add_url_rule(f"{prefix}/<public_id>/<change>", "webhook_action", webhook_action,
                           methods=["POST"])
    blueprint.add_url_rule(f"{prefix}/<public_id>/deliveries/<delivery_id>/replay",
                           "webhook_replay", webhook_replay, methods=["POST"])


register_routes(bp, "/account/webhooks", lambda: current_user.firm_id,
                role_required("firm"), "base.html")
