// Shapes of the CRISP REST API (SPEC §6); kept in step with threat_feeds/api/serializers.py.

// Shapes of the CRISP REST API (SPEC §6): generated from the OpenAPI schema into schema.d.ts
// (`npm run api:types`; `npm run lint` fails when it drifts), refined here only where the schema
// cannot say more (free-form JSON fields).

import type { components } from "./schema";

type Schemas = components["schemas"];

export type SourceType = Schemas["SourceTypeEnum"];
export type RunStatus = Schemas["StatusEnum"];
export type RunStage = Schemas["StageEnum"];
export type CancelMode = Schemas["ModeEnum"];
export type Trigger = Schemas["TriggerEnum"];
export type RunProgress = Schemas["_Progress"];
export type Cancellation = Schemas["_Cancellation"];
/** The undo record of a finished run rolled back afterwards (status `undone`). */
export type Undo = Schemas["_Undo"];
export type RunError = Schemas["_Error"];

/** One entry of a run's history: started (worker), requeued, terminated, revoked, resumed. */
export interface RunEvent {
  event: string;
  at: string;
  [detail: string]: unknown;
}

export type RunSnapshot = Omit<Schemas["RunSnapshot"], "events" | "stage"> & {
  stage: RunStage | null;
  events: RunEvent[];
};

export type Feed = Omit<Schemas["ThreatFeed"], "last_run" | "credentials" | "owner" | "cursor" | "settings" | "password" | "username" | "api_key"> & {
  credentials: { username: boolean; password: boolean; api_key: boolean };
  owner: string | null;
  cursor: Record<string, unknown>;
  settings: Record<string, unknown>;
  last_run: RunSnapshot | null;
};

export interface Me {
  id?: number;
  username: string;
  is_staff: boolean;
}

export interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

/** What the feed form sends: credentials are write-only and only sent when changed. */
export interface FeedInput {
  name?: string;
  source_type?: SourceType;
  url?: string;
  collection_id?: string;
  username?: string;
  password?: string;
  api_key?: string;
  page_size?: number;
  schedule?: number | null;
  is_active?: boolean;
  settings?: Record<string, unknown>;
}

export interface ProvenanceLink {
  feed: { id: number; name: string };
  run: { run_id: number; task_id: string };
  seen_at: string;
  action?: string;
  path?: string;
  stix_id?: string;
}

export interface Indicator {
  id: number;
  kind: string;
  value: string;
  first_seen_at: string;
  enrichment: Record<string, unknown>;
  enriched_at: string | null;
}

export interface IndicatorDetail extends Indicator {
  provenance_links: ProvenanceLink[];
}

export interface StixObject {
  id: number;
  stix_id: string;
  type: string;
  spec_version: string;
  created: string | null;
  modified: string | null;
  first_seen_at: string;
  updated_at: string;
  data: Record<string, unknown>;
}

export interface StixObjectDetail extends StixObject {
  provenance_links: ProvenanceLink[];
  versions: StixObjectVersion[];
}

/** One immutable version of an object, with the runs (and their feeds) that delivered it. */
export interface StixObjectVersion {
  version_key: string;
  modified: string | null;
  spec_version: string;
  first_seen_at: string;
  current: boolean;
  data: Record<string, unknown>;
  delivered_by: {
    feed: { id: number; name: string };
    run: { run_id: number; task_id: string; status: string };
    action: string;
    seen_at: string;
  }[];
}
