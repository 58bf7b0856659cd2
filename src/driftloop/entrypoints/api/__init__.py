"""The HTTP API (FastAPI): the seed's endpoints plus trades, insights and learning."""

from driftloop.entrypoints.api.app import create_app

__all__ = ["create_app"]
