"""Reading posted HTML forms as text: what was typed is parsed, and shown again beside any errors."""

from __future__ import annotations

from litestar.datastructures import FormMultiDict


def text(form: FormMultiDict, name: str) -> str:
    """The field's value; a field the browser did not send (or an upload where text belongs) is empty."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def texts(form: FormMultiDict, *names: str) -> dict[str, str]:
    return {name: text(form, name) for name in names}
