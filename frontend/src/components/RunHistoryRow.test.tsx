import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { makeCancellation, makeRun } from "../test/fixtures";
import { RunHistoryRow } from "./RunHistoryRow";

function renderRow(run: Parameters<typeof RunHistoryRow>[0]["run"]) {
  render(
    <table>
      <tbody>
        <RunHistoryRow run={run} />
      </tbody>
    </table>,
  );
  return screen.getByTestId("history-row");
}

describe("RunHistoryRow", () => {
  it("shows a cancelled run: who, why, latency and what was removed and restored", () => {
    const row = renderRow(
      makeRun({
        status: "cancelled",
        stage: null,
        finished_at: "2026-03-01T10:00:06Z",
        cancellation: makeCancellation({
          mode: "cancel_job",
          requested_by: "bob",
          reason: "wrong collection",
          latency_ms: 140,
          objects_kept: 0,
          objects_removed: 1100,
          objects_restored: 40,
        }),
      }),
    );
    expect(within(row).getByTestId("run-status")).toHaveTextContent("cancelled");
    const cancellation = within(row).getByTestId("cancellation");
    expect(cancellation).toHaveTextContent("Cancel job by bob — “wrong collection”");
    expect(cancellation).toHaveTextContent("latency 140 ms");
    expect(cancellation).toHaveTextContent("1,100 objects removed, 40 restored to their previous version");
    expect(row).toHaveTextContent("alice (dashboard)");
    expect(within(row).getByRole("link", { name: "Demo TAXII" })).toHaveAttribute("href", "/runs/6f1c1d1e-0000-4000-8000-000000000001");
  });

  it("shows a stopped run with the kept count and a latency in seconds", () => {
    const row = renderRow(
      makeRun({
        status: "stopped",
        finished_at: "2026-03-01T10:00:06Z",
        cancellation: makeCancellation({ latency_ms: 1250, objects_kept: 1100 }),
      }),
    );
    expect(within(row).getByTestId("cancellation")).toHaveTextContent("Stop now by alice");
    expect(within(row).getByTestId("cancellation")).toHaveTextContent("latency 1.25 s · 1,100 objects kept");
  });

  it("shows a failed run's error and a scheduled run's starter", () => {
    const row = renderRow(
      makeRun({
        status: "failed",
        requested_by: null,
        trigger: "schedule",
        error: { code: "source_unreachable", detail: "connection refused" },
      }),
    );
    expect(row).toHaveTextContent("source_unreachable: connection refused");
    expect(row).toHaveTextContent("the schedule");
  });

  it("says the CLI cancelled when no user is recorded", () => {
    const row = renderRow(
      makeRun({ status: "stopped", cancellation: makeCancellation({ requested_by: null, source: "cli" }) }),
    );
    expect(row).toHaveTextContent("Stop now by an operator (command line)");
  });
});
