import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { makeRun } from "../test/fixtures";
import { ProgressDisplay } from "./ProgressDisplay";

describe("ProgressDisplay", () => {
  it("shows fetched of total, percent, stage, counters, rate and ETA of a running run", () => {
    render(<ProgressDisplay run={makeRun()} />);
    expect(screen.getByTestId("progress-summary")).toHaveTextContent("1,200 of 4,000 objects (30%)");
    expect(screen.getByTestId("progress-stage")).toHaveTextContent("Fetching");
    expect(screen.getByTestId("count-pages")).toHaveTextContent("12");
    expect(screen.getByTestId("count-created")).toHaveTextContent("1,100");
    expect(screen.getByTestId("count-updated")).toHaveTextContent("40");
    expect(screen.getByTestId("count-unchanged")).toHaveTextContent("60");
    expect(screen.getByTestId("rate")).toHaveTextContent("640 objects/s");
    expect(screen.getByTestId("eta")).toHaveTextContent("1 min 15 s");
    const bar = screen.getByRole("progressbar");
    expect(bar).toHaveAttribute("aria-valuenow", "30");
  });

  it("falls back to pages when the source does not tell the total, and says the ETA is unknown", () => {
    const run = makeRun();
    run.progress = { ...run.progress, total_expected: null, percent: null, eta_seconds: null };
    render(<ProgressDisplay run={run} />);
    expect(screen.getByTestId("progress-summary")).toHaveTextContent("1,200 objects fetched in 12 pages");
    expect(screen.getByTestId("eta")).toHaveTextContent("unknown");
    expect(screen.getByRole("progressbar")).not.toHaveAttribute("aria-valuenow");
  });

  it("shows no stage and no ETA once the run is over", () => {
    render(<ProgressDisplay run={makeRun({ status: "stopped", stage: null, finished_at: "2026-03-01T10:00:06Z" })} />);
    expect(screen.queryByTestId("progress-stage")).toBeNull();
    expect(screen.getByTestId("eta")).toHaveTextContent("—");
  });

  it("says a queued run is waiting for a worker", () => {
    render(<ProgressDisplay run={makeRun({ status: "queued", stage: null })} />);
    expect(screen.getByTestId("progress-stage")).toHaveTextContent("Waiting for a worker");
  });
});
