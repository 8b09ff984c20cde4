"""How a closed ticket is classified, with the reasons each classification allows.

The pairs follow Microsoft Sentinel's incident classification, so a closure imported from
(or pushed to) Sentinel keeps its meaning unchanged.
"""

from __future__ import annotations

import enum


class Classification(enum.StrEnum):
    TRUE_POSITIVE = "TruePositive"
    BENIGN_POSITIVE = "BenignPositive"
    FALSE_POSITIVE = "FalsePositive"
    UNDETERMINED = "Undetermined"


class ClassificationReason(enum.StrEnum):
    SUSPICIOUS_ACTIVITY = "SuspiciousActivity"
    SUSPICIOUS_BUT_EXPECTED = "SuspiciousButExpected"
    INCORRECT_ALERT_LOGIC = "IncorrectAlertLogic"
    INACCURATE_DATA = "InaccurateData"


ALLOWED_REASONS: dict[Classification, tuple[ClassificationReason, ...]] = {
    Classification.TRUE_POSITIVE: (ClassificationReason.SUSPICIOUS_ACTIVITY,),
    Classification.BENIGN_POSITIVE: (ClassificationReason.SUSPICIOUS_BUT_EXPECTED,),
    Classification.FALSE_POSITIVE: (ClassificationReason.INCORRECT_ALERT_LOGIC, ClassificationReason.INACCURATE_DATA),
    Classification.UNDETERMINED: (),
}

LABELS: dict[str, str] = {
    Classification.TRUE_POSITIVE: "True positive",
    Classification.BENIGN_POSITIVE: "Benign positive",
    Classification.FALSE_POSITIVE: "False positive",
    Classification.UNDETERMINED: "Undetermined",
    ClassificationReason.SUSPICIOUS_ACTIVITY: "Suspicious activity",
    ClassificationReason.SUSPICIOUS_BUT_EXPECTED: "Suspicious but expected",
    ClassificationReason.INCORRECT_ALERT_LOGIC: "Incorrect alert logic",
    ClassificationReason.INACCURATE_DATA: "Inaccurate data",
}


def label(value: object) -> str:
    """A person's words for a classification or reason; anything else as it is."""
    if value is None:
        return ""
    text = str(value)
    return LABELS.get(text, text)


def classification_errors(
    classification: str | None, reason: str | None, *, required: bool
) -> tuple[Classification | None, ClassificationReason | None, dict[str, str]]:
    """The parsed pair, or errors keyed ``classification`` / ``classification_reason``."""
    errors: dict[str, str] = {}
    if not classification:
        if required:
            errors["classification"] = "This ticket type must be classified when it is closed."
        if reason:
            errors["classification_reason"] = "A reason needs a classification."
        return None, None, errors
    try:
        parsed = Classification(classification)
    except ValueError:
        return None, None, {"classification": "Choose a classification from the list."}
    allowed = ALLOWED_REASONS[parsed]
    if not reason:
        if allowed:
            choices = " or ".join(label(choice) for choice in allowed)
            errors["classification_reason"] = f"{label(parsed)} needs a reason: {choices}."
        return parsed, None, errors
    try:
        parsed_reason = ClassificationReason(reason)
    except ValueError:
        return parsed, None, {"classification_reason": "Choose a reason from the list."}
    if parsed_reason not in allowed:
        if allowed:
            choices = " or ".join(label(choice) for choice in allowed)
            errors["classification_reason"] = f"{label(parsed)} allows only: {choices}."
        else:
            errors["classification_reason"] = f"{label(parsed)} takes no reason."
        return parsed, None, errors
    return parsed, parsed_reason, errors
