import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import { explainError, fieldErrors } from "./errors";

describe("explainError", () => {
  it("explains a 403 on cancel as who may cancel", () => {
    const error = new ApiError(403, { detail: "only the user who started this run…", code: "permission_denied" });
    expect(explainError(error, "cancel")).toBe(
      "You may not stop or cancel this run: only the person who started it, the feed's owner or staff can. Ask one of them.",
    );
  });

  it("explains a 409 run_finished with the final status", () => {
    const error = new ApiError(409, { detail: "run already finished: completed", code: "run_finished", status: "completed" });
    expect(explainError(error, "cancel")).toBe(
      "The run had already finished (completed) before your request arrived, so there was nothing left to stop. Its final state is shown.",
    );
  });

  it("explains a 409 run_active differently for starting and deleting", () => {
    const error = new ApiError(409, { detail: "feed 'x' already has an active run", code: "run_active", active_run: "t" });
    expect(explainError(error, "consume")).toMatch(/already has an active run \(only one run per feed at a time\)/);
    expect(explainError(error, "delete")).toMatch(/Stop or cancel that run before deleting the feed/);
  });

  it("explains a 429 with the Retry-After wait", () => {
    const error = new ApiError(429, { detail: "Request was throttled.", code: "throttled" }, 42);
    expect(explainError(error, "cancel")).toBe(
      "Too many cancel requests in a short time (the server limits them per user). Try again in 42 seconds.",
    );
    expect(explainError(new ApiError(429, { code: "throttled" }, 1), "cancel")).toMatch(/in 1 second\.$/);
    expect(explainError(new ApiError(429, { code: "throttled" }), "cancel")).toMatch(/in a minute\.$/);
  });

  it("explains an unreachable server and an expired session", () => {
    expect(explainError(new ApiError(0, { code: "unreachable" }))).toMatch(/could not be reached/);
    expect(explainError(new ApiError(401, { detail: "x", code: "not_authenticated" }))).toBe(
      "Your session has expired. Please log in again.",
    );
    expect(explainError(new ApiError(503, {}))).toMatch(/unavailable right now/);
    expect(explainError(new ApiError(500, { code: "bad_response" }), "cancel")).toBe(
      "The server failed to handle the request (HTTP 500). Try again; if it keeps failing, the server log says why.",
    );
  });

  it("explains a paused feed", () => {
    expect(explainError(new ApiError(409, { code: "feed_inactive", detail: "inactive" }), "consume")).toMatch(/paused/);
  });
});

describe("fieldErrors", () => {
  it("flattens the API's field errors", () => {
    const error = new ApiError(400, { detail: "Invalid input.", code: "invalid", errors: { url: ["Bad URL.", "Loopback."] } });
    expect(fieldErrors(error)).toEqual({ url: "Bad URL. Loopback." });
    expect(fieldErrors(new ApiError(403, {}))).toEqual({});
  });
});
