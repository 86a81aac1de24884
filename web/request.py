"""The app's one request class: each concern is a mixin of its own module."""

from __future__ import annotations

from web.json_body import BodyRequest
from web.security import TrustedHostRequest


class AppRequest(TrustedHostRequest, BodyRequest):
    """IPv6 literals in `TRUSTED_HOSTS` (`web.security`) and JSON bodies that say what is wrong (`web.json_body`)."""
