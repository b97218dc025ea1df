"""Logins: the token endpoint for scripts and the session login of the dashboard, both throttled."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from threat_feeds.api.throttles import LoginRateThrottle


class BoundedAuthTokenSerializer(AuthTokenSerializer):
    username = serializers.CharField(label="Username", write_only=True, max_length=150)
    password = serializers.CharField(
        label="Password", style={"input_type": "password"}, trim_whitespace=False, write_only=True,
        max_length=4096,
    )  # fmt: skip


class TokenObtainView(ObtainAuthToken):
    """POST {"username", "password"} → {"token"}; failed attempts are throttled (CRISP_LOGIN_THROTTLE)."""

    serializer_class = BoundedAuthTokenSerializer
    throttle_classes = [LoginRateThrottle]
    # The project's parsers (a JSON body nested too deep is a 400), not ObtainAuthToken's own.
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            for throttle in self.get_throttles():
                throttle.record_failure(request, self)
            raise serializers.ValidationError(serializer.errors)
        return super().post(request, *args, **kwargs)


class ThrottledLoginView(auth_views.LoginView):
    """Django's login form (the dashboard signs in through it), with the same failed-login throttle."""

    template_name = "rest_framework/login.html"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self._throttle = LoginRateThrottle()
        if not self._throttle.allow_request(request, self):
            wait = self._throttle.wait() or 1
            response = JsonResponse({"detail": str(Throttled(wait).detail), "code": "throttled"}, status=429)
            response["Retry-After"] = str(int(wait) + 1)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        self._throttle.record_failure(self.request, self)
        return super().form_invalid(form)


session_urlpatterns = (
    [
        path("login/", ThrottledLoginView.as_view(), name="login"),
        path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    ],
    "rest_framework",
)
