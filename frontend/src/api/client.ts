// The one place that talks HTTP: same-origin fetch with the Django session cookie and CSRF
// header, JSON in and out, and every failure turned into an ApiError with the API's code.

export class ApiError extends Error {
  readonly status: number; // 0 when the server could not be reached
  readonly code: string;
  readonly detail: string;
  readonly body: Record<string, unknown>;
  readonly retryAfter: number | null; // seconds, from Retry-After or the body

  constructor(status: number, body: Record<string, unknown>, retryAfter: number | null = null) {
    const detail = typeof body.detail === "string" ? body.detail : `HTTP ${status}`;
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
    this.detail = detail;
    this.code = typeof body.code === "string" ? body.code : status === 0 ? "unreachable" : "error";
    this.retryAfter = retryAfter;
  }

  get unreachable(): boolean {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
  }

  get unauthenticated(): boolean {
    return this.status === 401 || (this.status === 403 && this.code === "not_authenticated");
  }
}

type Listener = () => void;
const unauthenticatedListeners = new Set<Listener>();

/** Called whenever the API answers "not logged in": the app then goes back to the login page. */
export function onUnauthenticated(listener: Listener): () => void {
  unauthenticatedListeners.add(listener);
  return () => unauthenticatedListeners.delete(listener);
}

export function readCookie(name: string): string | null {
  for (const part of document.cookie ? document.cookie.split(";") : []) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

export function csrfToken(): string {
  return readCookie("csrftoken") ?? "";
}

function retryAfterOf(response: Response, body: Record<string, unknown>): number | null {
  const header = response.headers.get("Retry-After");
  if (header && /^\d+$/.test(header.trim())) return Number(header.trim());
  const fromBody = body.retry_after_seconds;
  return typeof fromBody === "number" ? fromBody : null;
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}${path.includes("?") ? "&" : "?"}${text}` : path;
}

export interface RequestOptions {
  method?: "GET" | "POST" | "PATCH" | "DELETE";
  body?: unknown;
  query?: Query;
  signal?: AbortSignal;
}

export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method ?? "GET";
  const headers: Record<string, string> = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(withQuery(path, options.query), {
      method,
      headers,
      credentials: "same-origin",
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError(0, { detail: "The CRISP server could not be reached.", code: "unreachable" });
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let body: Record<string, unknown> = {};
  if (text) {
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = { code: "bad_response" }; // an HTML error page, a proxy's answer…
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, body, retryAfterOf(response, body));
    if (error.unauthenticated) unauthenticatedListeners.forEach((listener) => listener());
    throw error;
  }
  return body as T;
}
