"""The FastAPI app: accepts work, stores the read model, starts workflows; never waits for delivery."""
