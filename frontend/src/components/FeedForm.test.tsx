import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Feed } from "../api/types";
import { FeedForm } from "./FeedForm";

const FEED: Feed = {
  id: 4,
  name: "Partner TAXII",
  source_type: "taxii21",
  url: "https://taxii.example.org/api1/",
  collection_id: "c-1",
  credentials: { username: true, password: true, api_key: false },
  page_size: 500,
  schedule: 60,
  is_active: true,
  settings: {},
  owner: "alice",
  cursor: {},
  last_run: null,
  created_at: "2026-03-01T10:00:00Z",
  can_edit: true,
  has_upload: false,
};

function answering(status: number, body: unknown) {
  const fetchMock = vi.fn().mockResolvedValue(new Response(JSON.stringify(body), { status }));
  vi.stubGlobal("fetch", fetchMock);
  return fetchMock;
}

afterEach(() => vi.unstubAllGlobals());

describe("FeedForm", () => {
  it("shows write-only credentials as set or not set, and sends only the ones changed", async () => {
    const fetchMock = answering(200, FEED);
    const onSaved = vi.fn();
    render(<FeedForm feed={FEED} onSaved={onSaved} onClose={vi.fn()} />);
    expect(screen.getByTestId("cred-password")).toHaveTextContent("set");
    expect(screen.getByTestId("cred-api_key")).toHaveTextContent("not set");
    expect(screen.getByLabelText(/^Password/)).toHaveValue(""); // never shown, never returned
    await userEvent.type(screen.getByLabelText(/^API key/), "k-123");
    await userEvent.click(screen.getAllByLabelText("remove it")[0]); // the username
    await userEvent.click(screen.getByRole("button", { name: "Save changes" }));
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe("/api/threat-feeds/4/");
    expect(init.method).toBe("PATCH");
    const body = JSON.parse(init.body);
    expect(body).toMatchObject({ api_key: "k-123", username: "", schedule: 60, page_size: 500 });
    expect(body).not.toHaveProperty("password");
    expect(body).not.toHaveProperty("source_type");
    expect(onSaved).toHaveBeenCalledWith(FEED);
  });

  it("shows the API's field errors next to the fields", async () => {
    answering(400, { detail: "Invalid input.", code: "invalid", errors: { collection_id: ["A TAXII collection id is required."] } });
    render(<FeedForm onSaved={vi.fn()} onClose={vi.fn()} />);
    await userEvent.type(screen.getByLabelText("Name"), "New feed");
    await userEvent.type(screen.getByLabelText("TAXII 2.1 API root URL"), "https://taxii.example.org/api1/");
    await userEvent.click(screen.getByRole("button", { name: "Add feed" }));
    expect(await screen.findByText("A TAXII collection id is required.")).toBeInTheDocument();
    expect(screen.getByRole("alert")).toHaveTextContent("Some fields need fixing");
  });

  it("explains a 403 when someone else's feed is edited", async () => {
    answering(403, { detail: "Only the feed's owner or staff may change or delete it.", code: "permission_denied" });
    render(<FeedForm feed={FEED} onSaved={vi.fn()} onClose={vi.fn()} />);
    await userEvent.click(screen.getByRole("button", { name: "Save changes" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Only the feed's owner or staff may change this feed.");
  });
});
