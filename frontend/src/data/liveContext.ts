// Whether the dashboard's one live stream is delivering runs now, and who listens to its snapshots.

import { createContext } from "react";
import type { RunSnapshot } from "../api/types";

export type SnapshotListener = (run: RunSnapshot) => void;

export interface LiveState {
  streaming: boolean;
  /** Called with every snapshot the stream delivers; returns the unsubscribe function. */
  subscribe: (listener: SnapshotListener) => () => void;
}

export const LiveContext = createContext<LiveState>({ streaming: false, subscribe: () => () => undefined });
