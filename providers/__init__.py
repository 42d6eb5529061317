"""The Provider interface and one module per vendor kind; error classification lives here."""
