"""JSON API: agent endpoints and admin endpoints under /api/v1."""
