"""The host service (``wasmind-host``): runs agents' actor instances, connected to NATS.

The process wrapper lands with the swarm issue; the host core it wraps is
:mod:`wasmind.runtime.host`.
"""
