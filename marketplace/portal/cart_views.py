"""The firm's cart: collect parts with their options, choose a delivery, quote them as one
order (:mod:`marketplace.orders.cart`)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from marketplace.auth import get_scoped_or_404, role_required
from marketplace.extensions import db
from marketplace.i18n import gettext as _
from marketplace.models import Part, Quote
from marketplace.orders import cart
from marketplace.orders import operations as orders
from marketplace.portal import bp
from marketplace.portal.forms import ActionForm, DeliveryForm
from marketplace.portal.views import order_error_field
from marketplace.quotes import operations as quotes


def _problem(exc) -> str:
    return _(exc.message, **exc.params)


@bp.post("/parts/<part_id>/cart")
@role_required("firm")
def cart_add(part_id):
    part = get_scoped_or_404(Part, part_id, current_user)
    if not ActionForm().validate():
        return redirect(url_for("portal.part_detail", part_id=part.public_id), 303)
    try:
        cart.add(current_user, part, request.form)
    except (cart.CartError, quotes.QuoteError) as exc:
        db.session.rollback()
        flash(_problem(exc), "error")
        return redirect(url_for("portal.part_detail", part_id=part.public_id,
                                **{k: v for k, v in request.form.items() if k != "csrf_token"}),
                        303)
    db.session.commit()
    flash(_("„%(name)s“ liegt im Warenkorb.", name=part.original_name), "success")
    return redirect(url_for("portal.cart"), 303)


@bp.get("/cart", endpoint="cart")
@role_required("firm")
def cart_page():
    return _cart_page(DeliveryForm())


def _cart_page(form: DeliveryForm, status: int = 200):
    """The cart with ``form`` as shown (a refused delivery: as filled in, with its error)."""
    priced = cart.price_items(current_user)
    db.session.commit()  # queues missing estimates
    firm = current_user.firm
    return render_template(
        "portal/cart.html", priced=priced, form=form, action=ActionForm(),
        total=cart.cart_total(priced),
        firm_address=orders.firm_address(firm),
        pending=any(p.pending for p in priced),
    ), status


@bp.post("/cart/<item_id>")
@role_required("firm")
def cart_update(item_id):
    item = cart.find(current_user, item_id)
    if item is None:
        abort(404)
    if not ActionForm().validate():
        return redirect(url_for("portal.cart"), 303)
    try:
        if request.form.get("remove"):
            cart.remove(item)
        else:
            cart.update(item, request.form)
    except quotes.QuoteError as exc:
        db.session.rollback()
        flash(_problem(exc), "error")
        return redirect(url_for("portal.cart"), 303)
    db.session.commit()
    return redirect(url_for("portal.cart"), 303)


@bp.post("/cart/quote")
@role_required("firm")
def cart_quote():
    form = DeliveryForm()
    if not form.validate():  # the page again, as filled in, each error at its field
        return _cart_page(form, 400)
    delivery, express = form.choice()
    ship_to = None
    try:
        if delivery == "shipping":
            ship_to = orders.clean_address(form.ship_to() or
                                           orders.firm_address(current_user.firm))
        quote = cart.quote_cart(current_user, delivery=delivery, express=express,
                                ship_to=ship_to)
    except (cart.CartError, quotes.QuoteError, orders.OrderError) as exc:
        db.session.rollback()
        message = _problem(exc) if hasattr(exc, "params") else _(exc.message)
        target = order_error_field(form, exc)
        if target is not None:  # a choice of the form: kept as filled in, the reason at it
            (form.delivery if target is form.variant else target).errors.append(message)
            return _cart_page(form, 400)
        flash(message, "error")
        return redirect(url_for("portal.cart"), 303)
    except quotes.EstimatePendingError:
        db.session.commit()  # queues the estimate
        flash(_("Der Preis wird noch berechnet; bitte versuchen Sie es gleich noch einmal."),
              "info")
        return redirect(url_for("portal.cart"), 303)
    db.session.commit()
    if express and not quote.express:
        flash(_(quotes.EXPRESS_NO_GAIN) + " " + _("Das Angebot gilt ohne Express-Zuschlag."),
              "info")
    return redirect(url_for("portal.quote_detail", quote_id=quote.public_id), 303)


@bp.post("/quotes/<quote_id>/cart")
@role_required("firm")
def quote_to_cart(quote_id):
    quote = get_scoped_or_404(Quote, quote_id, current_user)
    if not ActionForm().validate():
        return redirect(url_for("portal.quote_detail", quote_id=quote.public_id), 303)
    cart.put_back(quote, current_user)
    db.session.commit()
    flash(_("Die Teile des Angebots liegen wieder im Warenkorb."), "success")
    return redirect(url_for("portal.cart"), 303)
