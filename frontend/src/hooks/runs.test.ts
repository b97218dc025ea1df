import { describe, expect, it } from "vitest";
import { makeCancellation, makeRun } from "../test/fixtures";
import { cancelledByOthers, notice } from "./useForeignCancelNotices";
import { mergeRun } from "./useRunMonitor";

describe("mergeRun", () => {
  it("never goes back from stopping to running when an older poll answers late", () => {
    const stopping = makeRun({ status: "stopping" });
    expect(mergeRun(stopping, makeRun({ status: "running" }))).toBe(stopping);
    const stopped = makeRun({ status: "stopped" });
    expect(mergeRun(stopping, stopped)).toBe(stopped);
    const escalated = makeRun({ status: "cancelling" });
    expect(mergeRun(stopping, escalated)).toBe(escalated);
  });
});

describe("cancelledByOthers", () => {
  const me = { username: "alice", is_staff: false };
  const now = new Date("2026-03-01T11:00:00Z").getTime();

  it("picks my runs cancelled by someone else, not by me, not others' runs", () => {
    const byBob = makeRun({ task_id: "a", status: "cancelled", cancellation: makeCancellation({ mode: "cancel_job", requested_by: "bob", reason: "dup" }) });
    const byMe = makeRun({ task_id: "b", status: "stopped", cancellation: makeCancellation() });
    const notMine = makeRun({ task_id: "c", requested_by: "carol", cancellation: makeCancellation({ requested_by: "bob" }) });
    expect(cancelledByOthers(me, [byBob, byMe, notMine], now).map((r) => r.task_id)).toEqual(["a"]);
    expect(notice(byBob)).toBe("Your run #7 of “Demo TAXII” was cancelled (rolled back) by bob (Cancel job). Reason: “dup”.");
  });

  it("ignores cancellations older than a day", () => {
    const old = makeRun({ cancellation: makeCancellation({ requested_by: "bob", requested_at: "2026-02-20T10:00:00Z" }) });
    expect(cancelledByOthers(me, [old], now)).toEqual([]);
  });
});
