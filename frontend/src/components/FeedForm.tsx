// Add or edit a feed. Credentials are write-only: shown as set/unset, sent only when changed.

import { useId, useState, type FormEvent, type ReactNode } from "react";
import { api } from "../api/endpoints";
import type { Feed, FeedInput, SourceType } from "../api/types";
import { explainError, fieldErrors } from "../lib/errors";
import { SOURCE_LABEL } from "../lib/runs";
import { CredentialField } from "./CredentialField";
import { Dialog } from "./Dialog";

const URL_LABEL: Record<SourceType, string> = {
  taxii21: "TAXII 2.1 API root URL",
  stix_bundle: "Bundle URL",
  otx: "OTX server (blank: the public service)",
  virustotal: "VirusTotal server (blank: the public service)",
};

type Secret = "username" | "password" | "api_key";

interface FeedFormProps {
  feed?: Feed;
  onSaved: (feed: Feed) => void;
  onClose: () => void;
}

export function FeedForm({ feed, onSaved, onClose }: FeedFormProps) {
  const editing = feed !== undefined;
  const [name, setName] = useState(feed?.name ?? "");
  const [sourceType, setSourceType] = useState<SourceType>(feed?.source_type ?? "taxii21");
  const [url, setUrl] = useState(feed?.url ?? "");
  const [collectionId, setCollectionId] = useState(feed?.collection_id ?? "");
  const [pageSize, setPageSize] = useState(String(feed?.page_size ?? 1000));
  const [schedule, setSchedule] = useState(feed?.schedule ? String(feed.schedule) : "");
  const [isActive, setIsActive] = useState(feed?.is_active ?? true);
  const [settingsText, setSettingsText] = useState(JSON.stringify(feed?.settings ?? {}, null, 2));
  const [secrets, setSecrets] = useState<Record<Secret, string>>({ username: "", password: "", api_key: "" });
  const [removals, setRemovals] = useState<Record<Secret, boolean>>({ username: false, password: false, api_key: false });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const ids = { name: useId(), type: useId(), url: useId(), collection: useId(), page: useId(), schedule: useId(), settings: useId() };

  function input(): FeedInput | null {
    let settings: Record<string, unknown>;
    try {
      settings = JSON.parse(settingsText || "{}") as Record<string, unknown>;
      if (!settings || typeof settings !== "object" || Array.isArray(settings)) throw new Error();
    } catch {
      setErrors({ settings: "Settings must be a JSON object, e.g. {}." });
      return null;
    }
    const body: FeedInput = {
      name: name.trim(),
      url: url.trim(),
      collection_id: collectionId.trim(),
      page_size: Number(pageSize),
      schedule: schedule.trim() ? Number(schedule) : null,
      is_active: isActive,
      settings,
    };
    if (!editing) body.source_type = sourceType;
    for (const key of ["username", "password", "api_key"] as Secret[]) {
      if (removals[key]) body[key] = "";
      else if (secrets[key]) body[key] = secrets[key];
    }
    return body;
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    setErrors({});
    setMessage(null);
    const body = input();
    if (!body) return;
    setBusy(true);
    try {
      onSaved(editing ? await api.updateFeed(feed.id, body) : await api.createFeed(body));
    } catch (caught) {
      setErrors(fieldErrors(caught));
      setMessage(explainError(caught, "save"));
    } finally {
      setBusy(false);
    }
  }

  const field = (id: string, label: string, key: string, control: ReactNode, hint?: string) => (
    <div className="field">
      <label htmlFor={id} className="field-label">
        {label}
      </label>
      {control}
      {hint && <p className="field-hint">{hint}</p>}
      {errors[key] && <p className="field-error">{errors[key]}</p>}
    </div>
  );
  const secretProps = (key: Secret) => ({
    name: key,
    isSet: Boolean(feed?.credentials[key]),
    value: secrets[key],
    remove: removals[key],
    error: errors[key],
    onChange: (value: string) => setSecrets((s) => ({ ...s, [key]: value })),
    onRemove: (remove: boolean) => setRemovals((r) => ({ ...r, [key]: remove })),
  });

  return (
    <Dialog title={editing ? `Edit feed “${feed.name}”` : "Add a feed"} onClose={onClose} wide>
      <form onSubmit={submit} className="form-grid" data-testid="feed-form" noValidate>
        {field(ids.name, "Name", "name",
          <input id={ids.name} value={name} required maxLength={200} onChange={(e) => setName(e.target.value)} />)}
        {field(ids.type, "Source type", "source_type",
          <select id={ids.type} value={sourceType} disabled={editing} onChange={(e) => setSourceType(e.target.value as SourceType)}>
            {(Object.keys(SOURCE_LABEL) as SourceType[]).map((type) => (
              <option key={type} value={type}>{SOURCE_LABEL[type]}</option>
            ))}
          </select>,
          editing ? "The source type of a feed cannot change." : undefined)}
        {field(ids.url, URL_LABEL[sourceType], "url",
          <input id={ids.url} type="url" value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://…" />)}
        {sourceType === "taxii21" &&
          field(ids.collection, "Collection id", "collection_id",
            <input id={ids.collection} value={collectionId} onChange={(e) => setCollectionId(e.target.value)} />)}
        {(sourceType === "taxii21" || sourceType === "stix_bundle") && (
          <>
            <CredentialField label="Username" secret={false} {...secretProps("username")} />
            <CredentialField label="Password" {...secretProps("password")} />
          </>
        )}
        <CredentialField label="API key" {...secretProps("api_key")} />
        {field(ids.page, "Page size", "page_size",
          <input id={ids.page} type="number" min={1} max={10000} value={pageSize} onChange={(e) => setPageSize(e.target.value)} />,
          "Objects requested per page (1–10,000).")}
        {field(ids.schedule, "Schedule (minutes between runs)", "schedule",
          <input id={ids.schedule} type="number" min={1} value={schedule} onChange={(e) => setSchedule(e.target.value)} placeholder="blank: manual only" />)}
        <div className="field">
          <label className="checkbox">
            <input type="checkbox" checked={isActive} onChange={(e) => setIsActive(e.target.checked)} /> Active (may run;
            scheduled runs happen)
          </label>
        </div>
        <details className="field field-wide" open={Boolean(errors.settings)}>
          <summary>Source-specific settings (JSON)</summary>
          {field(ids.settings, "Settings", "settings",
            <textarea id={ids.settings} className="mono" rows={4} value={settingsText} onChange={(e) => setSettingsText(e.target.value)} />,
            sourceType === "virustotal" ? "Which indicators to enrich and the key's quota, e.g. {\"kinds\": [\"ipv4\"], \"per_minute\": 4}." : undefined)}
        </details>
        {message && (
          <p className="notice notice-error field-wide" role="alert">
            {message}
            {errors.non_field_errors ? ` ${errors.non_field_errors}` : ""}
          </p>
        )}
        <div className="dialog-actions field-wide">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? "Saving…" : editing ? "Save changes" : "Add feed"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
