from flask import Blueprint

# The console's own stylesheet and scripts are served from marketplace/hub/static at /hub/static.
bp = Blueprint("hub", __name__, static_folder="static", static_url_path="/static")


@bp.app_template_filter("piece_label")
def _piece_label(job):
    from marketplace.jobs import piece_label

    return piece_label(job)


from marketplace.hub import invoice_views, views, webhook_views  # noqa: E402,F401
