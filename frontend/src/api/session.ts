// Session login and logout through Django's own login view (DRF's /api-auth/login/): the browser
// keeps the httpOnly session cookie, so no token ever lives in JavaScript.

import { ApiError, csrfToken, readCookie } from "./client";
import { api } from "./endpoints";
import type { Me } from "./types";

async function ensureCsrfCookie(): Promise<void> {
  // The dashboard's index view sets it; the login page sets it too when the app is served elsewhere.
  if (!readCookie("csrftoken")) await fetch("/api-auth/login/", { credentials: "same-origin" });
}

/** Log in with username/password; resolves to the user, or throws an ApiError (401 = wrong credentials). */
export async function login(username: string, password: string): Promise<Me> {
  try {
    await ensureCsrfCookie();
    const form = new URLSearchParams({ username, password, next: "/api/auth/me/", csrfmiddlewaretoken: csrfToken() });
    await fetch("/api-auth/login/", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded", "X-CSRFToken": csrfToken() },
      body: form,
    });
  } catch {
    throw new ApiError(0, { detail: "The CRISP server could not be reached.", code: "unreachable" });
  }
  // Django answers a failed login with the form again (200) and a good one with a redirect;
  // asking who we are now is the reliable way to tell them apart.
  try {
    return await api.me();
  } catch (error) {
    if (error instanceof ApiError && error.unauthenticated) {
      throw new ApiError(401, { detail: "Wrong username or password.", code: "invalid_credentials" });
    }
    throw error;
  }
}

export async function logout(): Promise<void> {
  await fetch("/api-auth/logout/", {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken() },
  }).catch(() => undefined);
}
