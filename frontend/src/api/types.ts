// Shapes of the CRISP REST API (SPEC §6); kept in step with threat_feeds/api/serializers.py.

export type SourceType = "taxii21" | "stix_bundle" | "otx" | "virustotal";

export type RunStatus =
  | "queued"
  | "running"
  | "stopping"
  | "cancelling"
  | "completed"
  | "failed"
  | "stopped"
  | "cancelled"
  | "interrupted";

export type RunStage =
  | "connecting"
  | "fetching"
  | "storing"
  | "enriching"
  | "waiting"
  | "rolling_back"
  | "finalizing";

export type CancelMode = "stop_now" | "cancel_job";
export type Trigger = "api" | "dashboard" | "schedule" | "cli";

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

export interface RunProgress {
  pages: number;
  fetched: number;
  created: number;
  updated: number;
  unchanged: number;
  invalid: number;
  errors?: number;
  total_expected: number | null;
  percent: number | null;
  rate_per_second: number | null;
  eta_seconds: number | null;
}

export interface Cancellation {
  mode: CancelMode;
  reason: string;
  requested_by: string | null;
  source: string;
  requested_at: string | null;
  acknowledged_at: string | null;
  latency_ms: number | null;
  objects_kept: number | null;
  objects_removed: number | null;
  objects_restored: number | null;
  escalated: boolean;
}

export interface RunError {
  code: string;
  detail: string;
}

export interface RunSnapshot {
  task_id: string;
  run_id: number;
  feed: { id: number; name: string; source_type: SourceType };
  status: RunStatus;
  stage: RunStage | null;
  trigger: Trigger;
  progress: RunProgress;
  invalid_samples?: string[];
  requested_by: string | null;
  queued_at: string | null;
  started_at: string | null;
  heartbeat_at: string | null;
  finished_at: string | null;
  cursor_before?: Record<string, unknown>;
  cursor_after?: Record<string, unknown>;
  cancellation: Cancellation | null;
  error: RunError | null;
  can_cancel: boolean;
}

export interface Feed {
  id: number;
  name: string;
  source_type: SourceType;
  url: string;
  collection_id: string;
  credentials: { username: boolean; password: boolean; api_key: boolean };
  page_size: number;
  schedule: number | null;
  is_active: boolean;
  settings: Record<string, unknown>;
  owner: string | null;
  cursor: Record<string, unknown>;
  last_run: RunSnapshot | null;
  created_at: string;
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
