// A write-only secret: the API only says whether it is set; typing replaces it, "remove" clears it.

import { useId } from "react";

interface CredentialFieldProps {
  label: string;
  name: "username" | "password" | "api_key";
  isSet: boolean;
  value: string;
  remove: boolean;
  secret?: boolean;
  error?: string;
  onChange: (value: string) => void;
  onRemove: (remove: boolean) => void;
}

export function CredentialField({ label, name, isSet, value, remove, secret = true, error, onChange, onRemove }: CredentialFieldProps) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id} className="field-label">
        {label}{" "}
        <span className={`cred-state ${isSet ? "cred-set" : "cred-unset"}`} data-testid={`cred-${name}`}>
          {isSet ? "set" : "not set"}
        </span>
      </label>
      <input
        id={id}
        name={name}
        type={secret ? "password" : "text"}
        autoComplete="off"
        value={value}
        disabled={remove}
        placeholder={isSet ? "leave blank to keep the current value" : ""}
        aria-invalid={error ? true : undefined}
        onChange={(event) => onChange(event.target.value)}
      />
      {isSet && (
        <label className="checkbox small">
          <input type="checkbox" checked={remove} onChange={(event) => onRemove(event.target.checked)} /> remove it
        </label>
      )}
      {error && <p className="field-error">{error}</p>}
    </div>
  );
}
