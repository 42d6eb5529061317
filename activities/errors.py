"""Error type names shared by activities (which raise them) and workflows (whose retry policies name them)."""

TEMPLATE_ERROR = "TemplateError"
NOT_FOUND = "NotFound"
PERMANENT_DELIVERY = "PermanentDeliveryError"
TRANSIENT_DELIVERY = "TransientDeliveryError"
# The address is on the suppression list: nothing was sent, and no retry would send it (the delivery is skipped).
SUPPRESSED = "Suppressed"
# The provider says the address is gone for good (an uninstalled app's device token): the deliver activity has
# suppressed it, and the delivery ends bounced instead of waiting in the dead-letter queue.
ADDRESS_GONE = "AddressGone"
