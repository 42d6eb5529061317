"""The reliability suite behind `make chaos`: faults injected into a real stack, every notification counted at
both ends."""
