"""Reading posted HTML forms as text: what was typed is parsed, and shown again beside any errors."""

from __future__ import annotations

from litestar.datastructures import FormMultiDict


def text(form: FormMultiDict, name: str) -> str:
    """The field's value; a field the browser did not send is empty."""
    return str(form.get(name) or "")


def texts(form: FormMultiDict, *names: str) -> dict[str, str]:
    return {name: text(form, name) for name in names}
