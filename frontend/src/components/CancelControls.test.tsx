import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { makeCancellation, makeRun } from "../test/fixtures";
import { CancelControls } from "./CancelControls";

function answer(status: number, body: unknown, headers: Record<string, string> = {}) {
  return vi.fn().mockResolvedValue(new Response(JSON.stringify(body), { status, headers }));
}

afterEach(() => vi.unstubAllGlobals());

describe("CancelControls", () => {
  it("offers no buttons to a user who may not cancel", () => {
    render(<CancelControls run={makeRun({ can_cancel: false })} onUpdated={vi.fn()} />);
    expect(screen.queryByRole("button")).toBeNull();
  });

  it("offers only Cancel job while stopping (escalation), nothing while cancelling", () => {
    const { rerender } = render(<CancelControls run={makeRun({ status: "stopping" })} onUpdated={vi.fn()} />);
    expect(screen.queryByRole("button", { name: "Stop now" })).toBeNull();
    expect(screen.getByRole("button", { name: "Cancel job" })).toBeInTheDocument();
    rerender(<CancelControls run={makeRun({ status: "cancelling" })} onUpdated={vi.fn()} />);
    expect(screen.queryByRole("button")).toBeNull();
  });

  it("sends mode and reason, closes the dialog and reports the stopping snapshot at once", async () => {
    const stopping = makeRun({ status: "stopping", cancellation: makeCancellation({ reason: "enough" }) });
    const fetchMock = answer(202, stopping);
    vi.stubGlobal("fetch", fetchMock);
    const onUpdated = vi.fn();
    render(<CancelControls run={makeRun()} onUpdated={onUpdated} />);
    await userEvent.click(screen.getByRole("button", { name: "Stop now" }));
    await userEvent.type(screen.getByLabelText(/reason/i), "enough");
    await userEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Stop now" }));
    await waitFor(() => expect(onUpdated).toHaveBeenCalledWith(stopping));
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe("/api/threat-feeds/cancel-task/6f1c1d1e-0000-4000-8000-000000000001/");
    expect(JSON.parse(init.body)).toEqual({ mode: "stop_now", reason: "enough" });
    expect(screen.queryByRole("dialog")).toBeNull();
  });

  it("keeps the dialog open and explains a 429 with Retry-After", async () => {
    vi.stubGlobal("fetch", answer(429, { detail: "Request was throttled.", code: "throttled" }, { "Retry-After": "17" }));
    render(<CancelControls run={makeRun()} onUpdated={vi.fn()} />);
    await userEvent.click(screen.getByRole("button", { name: "Cancel job" }));
    await userEvent.click(screen.getByRole("button", { name: "Cancel job and roll back" }));
    expect(await screen.findByTestId("cancel-error")).toHaveTextContent("Try again in 17 seconds.");
    expect(screen.getByRole("dialog")).toBeInTheDocument();
  });

  it("explains a 403 in the dialog", async () => {
    vi.stubGlobal("fetch", answer(403, { detail: "no", code: "permission_denied" }));
    render(<CancelControls run={makeRun()} onUpdated={vi.fn()} />);
    await userEvent.click(screen.getByRole("button", { name: "Stop now" }));
    await userEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Stop now" }));
    expect(await screen.findByTestId("cancel-error")).toHaveTextContent("only the person who started it, the feed's owner or staff");
  });

  it("on 409 run_finished closes the dialog, says so and fetches the final state", async () => {
    const final = makeRun({ status: "completed", can_cancel: false });
    const fetchMock = vi
      .fn()
      .mockResolvedValueOnce(new Response(JSON.stringify({ detail: "run already finished: completed", code: "run_finished", status: "completed" }), { status: 409 }))
      .mockResolvedValueOnce(new Response(JSON.stringify(final), { status: 200 }));
    vi.stubGlobal("fetch", fetchMock);
    const onUpdated = vi.fn();
    render(<CancelControls run={makeRun()} onUpdated={onUpdated} />);
    await userEvent.click(screen.getByRole("button", { name: "Stop now" }));
    await userEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Stop now" }));
    expect(await screen.findByRole("status")).toHaveTextContent("already finished (completed)");
    await waitFor(() => expect(onUpdated).toHaveBeenCalledWith(final));
    expect(screen.queryByRole("dialog")).toBeNull();
  });
});

describe("focus after cancelling", () => {
  it("returns to the run when the pressed button is gone", async () => {
    vi.stubGlobal("fetch", answer(202, makeRun({ status: "cancelling", cancellation: makeCancellation({ mode: "cancel_job" }) })));
    function Harness() {
      const [run, setRun] = useState(makeRun());
      return (
        <article data-testid="card" tabIndex={-1} data-focus-return>
          <CancelControls run={run} onUpdated={setRun} />
        </article>
      );
    }
    render(<Harness />);
    await userEvent.click(screen.getByRole("button", { name: "Cancel job" }));
    await userEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Cancel job and roll back" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(screen.queryByRole("button")).toBeNull(); // cancelling: nothing more to press
    expect(screen.getByTestId("card")).toHaveFocus();
  });
});
