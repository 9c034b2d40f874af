from flask import Blueprint

bp = Blueprint("portal", __name__)

from marketplace.portal import (
    auth_views,  # noqa: E402,F401
    cart_views,  # noqa: E402,F401
    data_views,  # noqa: E402,F401
    invoice_views,  # noqa: E402,F401
    legal_views,  # noqa: E402,F401
    token_views,  # noqa: E402,F401
    views,  # noqa: E402,F401
    webhook_views,  # noqa: E402,F401
)
