import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, render, screen } from "@testing-library/react";
import { useContext } from "react";
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { api } from "../api/endpoints";
import type { RunSnapshot } from "../api/types";
import { makeRun } from "../test/fixtures";
import { LiveRunsProvider, RECONNECT_MS, STREAM_URL } from "./live";
import { LiveContext } from "./liveContext";
import { keys, usePollInterval } from "./queries";

/** A stand-in for the browser's EventSource that the test drives. */
class FakeEventSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  static instances: FakeEventSource[] = [];
  readyState = FakeEventSource.CONNECTING;
  onopen: (() => void) | null = null;
  onmessage: ((event: MessageEvent<string>) => void) | null = null;
  onerror: (() => void) | null = null;
  closed = false;
  constructor(
    readonly url: string,
    readonly init?: EventSourceInit,
  ) {
    FakeEventSource.instances.push(this);
  }
  open() {
    this.readyState = FakeEventSource.OPEN;
    this.onopen?.();
  }
  send(run: RunSnapshot) {
    this.onmessage?.(new MessageEvent("message", { data: JSON.stringify(run) }));
  }
  fail(closed: boolean) {
    this.readyState = closed ? FakeEventSource.CLOSED : FakeEventSource.CONNECTING;
    this.onerror?.();
  }
  close() {
    this.closed = true;
    this.readyState = FakeEventSource.CLOSED;
  }
}

function Probe() {
  const interval = usePollInterval(750);
  const live = useContext(LiveContext);
  return <p data-testid="probe">{live.streaming ? "streaming" : `polling every ${String(interval)}`}</p>;
}

let me: MockInstance<typeof api.me>;
beforeEach(() => {
  FakeEventSource.instances = [];
  vi.stubGlobal("EventSource", FakeEventSource);
  me = vi.spyOn(api, "me").mockResolvedValue({ username: "alice", is_staff: false });
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

function mount(client = new QueryClient()) {
  render(
    <QueryClientProvider client={client}>
      <LiveRunsProvider>
        <Probe />
        <Probe />
      </LiveRunsProvider>
    </QueryClientProvider>,
  );
  return client;
}

describe("LiveRunsProvider", () => {
  it("holds one EventSource with the session cookie, and stops polling while it is open", () => {
    mount();
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(FakeEventSource.instances[0].url).toBe(STREAM_URL);
    expect(FakeEventSource.instances[0].init).toEqual({ withCredentials: true });
    expect(screen.getAllByTestId("probe")[0]).toHaveTextContent("polling every 750");
    act(() => FakeEventSource.instances[0].open());
    expect(screen.getAllByTestId("probe")[0]).toHaveTextContent("streaming");
  });

  it("writes each streamed snapshot into the query cache", () => {
    const client = mount();
    client.setQueryData(keys.runsActive, []);
    const source = FakeEventSource.instances[0];
    act(() => source.open());
    act(() => source.send(makeRun({ task_id: "t1", status: "running" })));
    expect(client.getQueryData<RunSnapshot>(keys.run("t1"))?.status).toBe("running");
    expect(client.getQueryData<RunSnapshot[]>(keys.runsActive)).toHaveLength(1);
    act(() => source.send(makeRun({ task_id: "t1", status: "completed" })));
    expect(client.getQueryData<RunSnapshot[]>(keys.runsActive)).toHaveLength(0);
  });

  it("polls while the stream is down and tries it again later when the server refused it", () => {
    vi.useFakeTimers();
    mount();
    const first = FakeEventSource.instances[0];
    act(() => first.open());
    act(() => first.fail(false)); // network blip: the browser reconnects by itself
    expect(screen.getAllByTestId("probe")[0]).toHaveTextContent("polling every 750");
    expect(FakeEventSource.instances).toHaveLength(1);
    act(() => first.fail(true)); // refused (401/503): closed for good
    expect(first.closed).toBe(true);
    expect(me).toHaveBeenCalled(); // a session that ended takes the app to the login page
    act(() => vi.advanceTimersByTime(RECONNECT_MS));
    expect(FakeEventSource.instances).toHaveLength(2);
    act(() => FakeEventSource.instances[1].open());
    expect(screen.getAllByTestId("probe")[0]).toHaveTextContent("streaming");
  });

  it("closes the stream when the dashboard goes away", () => {
    const client = new QueryClient();
    const view = render(
      <QueryClientProvider client={client}>
        <LiveRunsProvider>
          <Probe />
        </LiveRunsProvider>
      </QueryClientProvider>,
    );
    view.unmount();
    expect(FakeEventSource.instances[0].closed).toBe(true);
  });
});
