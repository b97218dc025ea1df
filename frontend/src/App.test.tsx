import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { App } from "./App";

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

const EMPTY_PAGE = { count: 0, next: null, previous: null, results: [] };

beforeEach(() => window.history.replaceState(null, "", "/feeds"));
afterEach(() => vi.unstubAllGlobals());

describe("App", () => {
  it("says the server is unreachable and retries on request", async () => {
    const fetchMock = vi.fn().mockRejectedValue(new TypeError("Failed to fetch"));
    vi.stubGlobal("fetch", fetchMock);
    render(<App />);
    expect(await screen.findByRole("heading", { name: "CRISP is unreachable" })).toBeInTheDocument();
    expect(screen.getByRole("alert")).toHaveTextContent("could not be reached");
    fetchMock.mockResolvedValue(json(401, { detail: "Authentication credentials were not provided.", code: "not_authenticated" }));
    await userEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeInTheDocument();
  });

  it("shows the feeds page when signed in, and the login page once the session expires", async () => {
    let expired = false;
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string) => {
        if (expired) return json(401, { detail: "Authentication credentials were not provided.", code: "not_authenticated" });
        if (url.startsWith("/api/auth/me/")) return json(200, { username: "alice", is_staff: false });
        return json(200, EMPTY_PAGE);
      }),
    );
    render(<App />);
    expect(await screen.findByRole("heading", { name: "Feeds", level: 1 })).toBeInTheDocument();
    expect(screen.getByTestId("whoami")).toHaveTextContent("alice");
    expect(await screen.findByText("No feeds yet.")).toBeInTheDocument();
    expired = true;
    expect(await screen.findByText("Your session has expired. Please sign in again.", {}, { timeout: 4000 })).toBeInTheDocument();
    expect(screen.getByRole("heading", { name: "Sign in" })).toBeInTheDocument();
  });
});
