import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { makeCancellation, makeRun, makeUndo } from "../test/fixtures";
import { RunHistoryRow } from "./RunHistoryRow";
import { UndoControls } from "./UndoControls";
import { UndoDialog } from "./UndoDialog";
import { UndoSummary } from "./UndoSummary";

function answer(status: number, body: unknown, headers: Record<string, string> = {}) {
  return vi.fn().mockResolvedValue(new Response(JSON.stringify(body), { status, headers }));
}

const finished = () => makeRun({ status: "completed", stage: null, finished_at: "2026-03-01T10:05:00Z", can_cancel: false, can_undo: true });

afterEach(() => vi.unstubAllGlobals());

describe("UndoDialog", () => {
  it("says what will be removed and restored and what happens to the feed's cursor", () => {
    render(<UndoDialog run={finished()} onConfirm={vi.fn()} onClose={vi.fn()} />);
    const dialog = screen.getByRole("dialog", { name: /undo run/i });
    expect(dialog).toHaveTextContent("created are removed unless another feed or run also provides them");
    expect(dialog).toHaveTextContent("objects it updated get their previous version back");
    const consequence = screen.getByTestId("undo-consequence");
    expect(consequence).toHaveTextContent("1,100 objects this run created will be removed (fewer if other runs also provide them)");
    expect(consequence).toHaveTextContent("40 objects it updated get their previous version back");
    expect(screen.getByTestId("undo-cursor")).toHaveTextContent(
      "If this is the feed's latest run, the feed's cursor goes back to where this run started",
    );
    expect(screen.getByLabelText(/reason/i)).toHaveFocus();
  });

  it("passes the trimmed reason, and closes on Escape without confirming", async () => {
    const onConfirm = vi.fn();
    const onClose = vi.fn();
    render(<UndoDialog run={finished()} onConfirm={onConfirm} onClose={onClose} />);
    await userEvent.keyboard("{Escape}");
    expect(onClose).toHaveBeenCalledTimes(1);
    await userEvent.type(screen.getByLabelText(/reason/i), " wrong collection  ");
    await userEvent.click(screen.getByRole("button", { name: "Undo run" }));
    expect(onConfirm).toHaveBeenCalledWith("wrong collection");
  });
});

describe("UndoControls", () => {
  it("offers nothing when the API says this user may not undo the run", () => {
    render(<UndoControls run={makeRun({ status: "completed", can_undo: false })} onUpdated={vi.fn()} />);
    expect(screen.queryByRole("button")).toBeNull();
  });

  it("posts the reason to the undo endpoint and reports the undone snapshot", async () => {
    const undone = makeRun({ status: "undone", can_undo: false, undo: makeUndo({ reason: "wrong collection" }) });
    const fetchMock = answer(202, undone);
    vi.stubGlobal("fetch", fetchMock);
    const onUpdated = vi.fn();
    render(<UndoControls run={finished()} onUpdated={onUpdated} />);
    await userEvent.click(screen.getByRole("button", { name: "Undo run" }));
    await userEvent.type(screen.getByLabelText(/reason/i), "wrong collection");
    await userEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Undo run" }));
    await waitFor(() => expect(onUpdated).toHaveBeenCalledWith(undone));
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe("/api/threat-feeds/tasks/6f1c1d1e-0000-4000-8000-000000000001/undo/");
    expect(init.method).toBe("POST");
    expect(JSON.parse(init.body)).toEqual({ reason: "wrong collection" });
    expect(screen.queryByRole("dialog")).toBeNull();
  });

  it("on 409 run_already_undone closes the dialog, says so and fetches the current state", async () => {
    const current = makeRun({ status: "undone", can_undo: false, undo: makeUndo() });
    const fetchMock = vi
      .fn()
      .mockResolvedValueOnce(
        new Response(JSON.stringify({ detail: "run already undone", code: "run_already_undone", status: "undone" }), { status: 409 }),
      )
      .mockResolvedValueOnce(new Response(JSON.stringify(current), { status: 200 }));
    vi.stubGlobal("fetch", fetchMock);
    const onUpdated = vi.fn();
    render(<UndoControls run={finished()} onUpdated={onUpdated} />);
    await userEvent.click(screen.getByRole("button", { name: "Undo run" }));
    await userEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Undo run" }));
    expect(await screen.findByRole("status")).toHaveTextContent("already been undone");
    await waitFor(() => expect(onUpdated).toHaveBeenCalledWith(current));
    expect(screen.queryByRole("dialog")).toBeNull();
  });

  it("keeps the dialog open and explains a 403 and a 429", async () => {
    vi.stubGlobal("fetch", answer(403, { detail: "no", code: "permission_denied" }));
    render(<UndoControls run={finished()} onUpdated={vi.fn()} />);
    await userEvent.click(screen.getByRole("button", { name: "Undo run" }));
    const dialog = screen.getByRole("dialog");
    await userEvent.click(within(dialog).getByRole("button", { name: "Undo run" }));
    expect(await screen.findByTestId("undo-error")).toHaveTextContent("You may not undo this run");
    vi.stubGlobal("fetch", answer(429, { detail: "Request was throttled.", code: "throttled" }, { "Retry-After": "9" }));
    await userEvent.click(within(dialog).getByRole("button", { name: "Undo run" }));
    await waitFor(() => expect(screen.getByTestId("undo-error")).toHaveTextContent("Too many undo and cancel requests"));
    expect(screen.getByTestId("undo-error")).toHaveTextContent("Try again in 9 seconds.");
    expect(screen.getByRole("dialog")).toBeInTheDocument();
  });
});

describe("the undo record", () => {
  it("shows who, why, latency, counts and that the cursor went back", () => {
    render(<UndoSummary run={makeRun({ status: "undone", undo: makeUndo({ requested_by: "bob", reason: "duplicate feed" }) })} />);
    expect(screen.getByTestId("undone-by")).toHaveTextContent("bob via dashboard");
    expect(screen.getByTestId("undo-reason")).toHaveTextContent("duplicate feed");
    expect(screen.getByTestId("undo-latency")).toHaveTextContent("420 ms");
    expect(screen.getByTestId("undo-removed")).toHaveTextContent("1,100");
    expect(screen.getByTestId("undo-restored")).toHaveTextContent("40");
    expect(screen.getByTestId("undo-cursor-outcome")).toHaveTextContent("put back to where the run started");
  });

  it("appears in run history beside the stop record, and the row offers Undo run only while undoable", async () => {
    const undone = makeRun({
      status: "undone",
      finished_at: "2026-03-01T10:00:06Z",
      cancellation: makeCancellation(),
      undo: makeUndo({ requested_by: null, source: "cli", cursor_restored: false, objects_restored: 0 }),
    });
    const { unmount } = render(
      <table>
        <tbody>
          <RunHistoryRow run={undone} onUpdated={vi.fn()} />
        </tbody>
      </table>,
    );
    const row = screen.getByTestId("history-row");
    expect(within(row).getByTestId("run-status")).toHaveTextContent("undone");
    expect(within(row).getByTestId("undo")).toHaveTextContent("Undone by an operator (command line)");
    expect(within(row).getByTestId("undo")).toHaveTextContent("latency 420 ms · 1,100 objects removed");
    expect(within(row).getByTestId("undo")).not.toHaveTextContent("cursor put back");
    expect(within(row).getByTestId("cancellation")).toHaveTextContent("Stop now by alice");
    expect(within(row).queryByRole("button")).toBeNull();
    unmount();

    render(
      <table>
        <tbody>
          <RunHistoryRow run={finished()} onUpdated={vi.fn()} />
        </tbody>
      </table>,
    );
    await userEvent.click(screen.getByRole("button", { name: "Undo run #7 of Demo TAXII" }));
    expect(screen.getByRole("dialog", { name: /undo run/i })).toBeInTheDocument();
  });
});
