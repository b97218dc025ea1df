import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { makeRun } from "../test/fixtures";
import { CancelDialog } from "./CancelDialog";

describe("CancelDialog", () => {
  it("explains that Stop now keeps everything and the next run resumes", () => {
    render(<CancelDialog run={makeRun()} mode="stop_now" onConfirm={vi.fn()} onClose={vi.fn()} />);
    const dialog = screen.getByRole("dialog", { name: /stop now/i });
    expect(dialog).toHaveTextContent("Everything it has already stored stays");
    expect(dialog).toHaveTextContent("the next run resumes from there");
    expect(screen.getByTestId("cancel-consequence")).toHaveTextContent("1,100 objects created and 40 updated — all of them are kept");
    expect(screen.getByRole("button", { name: "Stop now" })).toBeInTheDocument();
  });

  it("explains that Cancel job removes what the run added and restores what it updated", () => {
    render(<CancelDialog run={makeRun()} mode="cancel_job" onConfirm={vi.fn()} onClose={vi.fn()} />);
    const dialog = screen.getByRole("dialog", { name: /cancel job/i });
    expect(dialog).toHaveTextContent("every object and indicator it added is removed");
    expect(dialog).toHaveTextContent("objects it updated get their previous version back");
    expect(dialog).toHaveTextContent("the feed's cursor is left unchanged");
    expect(screen.getByTestId("cancel-consequence")).toHaveTextContent(
      "1,100 objects created will be removed and 40 updated objects restored",
    );
  });

  it("passes the reason to onConfirm", async () => {
    const onConfirm = vi.fn();
    render(<CancelDialog run={makeRun()} mode="cancel_job" onConfirm={onConfirm} onClose={vi.fn()} />);
    const reason = screen.getByLabelText(/reason/i);
    expect(reason).toHaveFocus(); // focus moves into the dialog
    await userEvent.type(reason, "  wrong collection ");
    await userEvent.click(screen.getByRole("button", { name: "Cancel job and roll back" }));
    expect(onConfirm).toHaveBeenCalledWith("wrong collection");
  });

  it("confirms with an empty reason too", async () => {
    const onConfirm = vi.fn();
    render(<CancelDialog run={makeRun()} mode="stop_now" onConfirm={onConfirm} onClose={vi.fn()} />);
    await userEvent.click(screen.getByRole("button", { name: "Stop now" }));
    expect(onConfirm).toHaveBeenCalledWith("");
  });

  it("closes on Escape and on Keep running, without confirming", async () => {
    const onConfirm = vi.fn();
    const onClose = vi.fn();
    render(<CancelDialog run={makeRun()} mode="stop_now" onConfirm={onConfirm} onClose={onClose} />);
    await userEvent.keyboard("{Escape}");
    await userEvent.click(screen.getByRole("button", { name: "Keep running" }));
    expect(onClose).toHaveBeenCalledTimes(2);
    expect(onConfirm).not.toHaveBeenCalled();
  });

  it("keeps Tab inside the dialog", async () => {
    render(<CancelDialog run={makeRun()} mode="stop_now" onConfirm={vi.fn()} onClose={vi.fn()} />);
    await userEvent.tab(); // textarea → Keep running
    await userEvent.tab(); // → Stop now
    expect(screen.getByRole("button", { name: "Stop now" })).toHaveFocus();
    await userEvent.tab(); // wraps to the first control
    expect(screen.getByLabelText(/reason/i)).toHaveFocus();
  });

  it("shows an error and disables confirming while busy", () => {
    render(
      <CancelDialog run={makeRun()} mode="stop_now" busy error="Too many cancel requests" onConfirm={vi.fn()} onClose={vi.fn()} />,
    );
    expect(screen.getByRole("alert")).toHaveTextContent("Too many cancel requests");
    expect(screen.getByRole("button", { name: "Sending…" })).toBeDisabled();
  });
});
