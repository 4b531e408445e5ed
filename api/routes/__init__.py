"""REST and WebSocket endpoints under ``/api/v1``, one module per resource."""
