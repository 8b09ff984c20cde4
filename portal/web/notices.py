"""The answer to a small action (sync now, retry, test): a notice in the flash region for HTMX,
or without JavaScript the same message flashed on the page the action came from."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import FormMultiDict
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template

from portal.web.forms import text
from portal.web.pages import is_htmx

CATEGORIES = ("success", "info", "warning", "error")


def notice(
    request: Request[Any, Any, Any], message: str, *, back: str, category: str = "success"
) -> Template | Redirect:
    category = category if category in CATEGORIES else "info"
    if is_htmx(request):
        return Template(
            "sync/_notice.html",
            context={"message": message, "category": category},
            headers={"HX-Retarget": "#flashes", "HX-Reswap": "innerHTML"},
        )
    flash(request, message, category=category)
    return Redirect(path=back, status_code=303)


def safe_back(form: FormMultiDict, default: str) -> str:
    """The page a form says it came from (``back``), if it is a path on this site; else ``default``."""
    back = text(form, "back")
    return back if back.startswith("/") and not back.startswith("//") and "\\" not in back else default
