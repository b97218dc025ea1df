import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { makeRun } from "../test/fixtures";
import { RunEvents } from "./RunEvents";

describe("RunEvents", () => {
  it("shows a run handed over from one worker to another by a shutdown", () => {
    render(
      <RunEvents
        run={makeRun({
          events: [
            { event: "started", at: "2026-03-01T10:00:01Z", worker: "celery@a" },
            { event: "requeued", at: "2026-03-01T10:00:05Z", reason: "worker_shutdown", from_worker: "celery@a" },
            { event: "started", at: "2026-03-01T10:00:06Z", worker: "celery@b" },
          ],
        })}
      />,
    );
    const items = screen.getByTestId("run-events").querySelectorAll("li");
    expect(items).toHaveLength(3);
    expect(items[1]).toHaveTextContent("requeued from celery@a · worker shutdown");
    expect(items[2]).toHaveTextContent("started on celery@b");
  });

  it("links a resumed run to the interrupted run it continues, and shows nothing without history", () => {
    const { unmount } = render(<RunEvents run={makeRun({ events: [], resumed_from: "0123456789abcdef" })} />);
    expect(screen.getByRole("link", { name: "01234567" })).toHaveAttribute("href", "/runs/0123456789abcdef");
    unmount();
    const { container } = render(<RunEvents run={makeRun({ events: [] })} />);
    expect(container).toBeEmptyDOMElement();
  });
});
