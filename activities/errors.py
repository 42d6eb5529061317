"""Error type names shared by activities (which raise them) and workflows (whose retry policies name them)."""

TEMPLATE_ERROR = "TemplateError"
NOT_FOUND = "NotFound"
PERMANENT_DELIVERY = "PermanentDeliveryError"
TRANSIENT_DELIVERY = "TransientDeliveryError"
# The address is on the suppression list: nothing was sent, and no retry would send it (the delivery is skipped).
SUPPRESSED = "Suppressed"
