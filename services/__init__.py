"""The use cases that REST routes, dashboard pages, the CLI and activities share: one module per use case.

Services call the store, the Temporal client and providers, and refuse with `core.errors.Problem`; they know
nothing of HTTP requests or HTML. Routes and pages only translate HTTP to a service call and back.
"""
