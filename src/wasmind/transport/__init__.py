"""Transports implementing the runtime's bus: NATS, and an in-process broker for one process."""
