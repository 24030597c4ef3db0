"""The public page at /public: the registry's figures for anyone, no sign-in (RESIDENTS.md)."""
from api.public.pages import blp

__all__ = ["blp"]
