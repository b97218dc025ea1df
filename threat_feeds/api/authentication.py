"""Token authentication with the token → user look-up cached in Redis.

Scripts poll task-status many times a second; each request used to pay a token query. The cache
holds only what the API reads from the user (id, username, is_active, is_staff, is_superuser) and
is dropped whenever a token or a user is saved or deleted (signals below), so a revoked token or a
deactivated user is refused at once; changes made behind the ORM's back last at most CACHE_SECONDS.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import redis
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.authtoken.models import Token

from threat_feeds.control.redis_clients import sync_client

log = logging.getLogger(__name__)
CACHE_SECONDS = 60
USER_FIELDS = ("id", "username", "is_active", "is_staff", "is_superuser")


def cache_key(key: str) -> str:
    """Where the fields of token `key`'s user are cached (read by `api.fast_status` as well)."""
    return "crisp:token:" + hashlib.sha256(key.encode()).hexdigest()


def _cache_get(key: str) -> dict[str, Any] | None:
    try:
        raw = sync_client().get(cache_key(key))
    except redis.RedisError as exc:  # Redis down: the database answers
        log.debug("token cache unavailable: %s", exc)
        return None
    return user_fields(raw)


def user_fields(raw: bytes | None) -> dict[str, Any] | None:
    """A cache entry decoded; None for a missing or unreadable one (the database then answers)."""
    if not raw:
        return None
    try:
        fields = json.loads(raw)
    except ValueError:
        return None
    return fields if isinstance(fields, dict) and set(fields) == set(USER_FIELDS) else None


def _cache_set(key: str, fields: dict[str, Any]) -> None:
    try:
        sync_client().set(cache_key(key), json.dumps(fields), ex=CACHE_SECONDS)
    except redis.RedisError as exc:
        log.debug("token cache unavailable: %s", exc)


def _cache_forget(keys: list[str]) -> None:
    if not keys:
        return
    try:
        sync_client().delete(*(cache_key(k) for k in keys))
    except redis.RedisError as exc:
        log.warning("token cache entries not dropped (they expire within %ss): %s", CACHE_SECONDS, exc)


def user_from_fields(fields: dict[str, Any]) -> Any:
    """A user model instance carrying USER_FIELDS only, built without a query."""
    user = get_user_model()(**fields)
    user._state.adding = False
    user._state.db = "default"
    return user


def user_for_token(key: str) -> tuple[Any, Token] | None:
    """(user, token) for a token key, or None when no such token exists. The user is built from the
    cache without a query when possible (a model instance carrying USER_FIELDS only)."""
    fields = _cache_get(key)
    if fields is None:
        token = Token.objects.select_related("user").filter(key=key).first()
        if token is None:
            return None
        fields = {name: getattr(token.user, name) for name in USER_FIELDS}
        _cache_set(key, fields)
        return token.user, token
    return user_from_fields(fields), Token(key=key, user_id=fields["id"])


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's `Authorization: Token <key>`, same answers, one Redis read instead of a query."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        found = user_for_token(key)
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        user, token = found
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return user, token


def token_from_header(header: bytes) -> str | None:
    """The key of an `Authorization: Token <key>` header; None without one; ValueError if malformed."""
    parts = header.split()
    if not parts or parts[0].lower() != b"token":
        return None
    if len(parts) != 2:
        raise ValueError("Invalid token header.")
    try:
        return parts[1].decode()
    except UnicodeError as exc:
        raise ValueError("Invalid token header.") from exc


__all__ = ["CachedTokenAuthentication", "get_authorization_header", "token_from_header", "user_for_token"]


@receiver([post_save, post_delete], sender=Token, dispatch_uid="crisp-token-cache-token")
def _token_changed(sender: Any, instance: Token, **kwargs: Any) -> None:
    _cache_forget([instance.key])


def _user_changed(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    if instance.pk is None or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return  # a login changes nothing the cache holds
    _cache_forget(list(Token.objects.filter(user_id=instance.pk).values_list("key", flat=True)))


post_save.connect(_user_changed, sender=get_user_model(), dispatch_uid="crisp-token-cache-user-save")
post_delete.connect(_user_changed, sender=get_user_model(), dispatch_uid="crisp-token-cache-user-delete")
