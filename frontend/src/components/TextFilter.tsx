// A text filter applied on Enter or when leaving the field (not on every keystroke).

import { useId, useState } from "react";

interface TextFilterProps {
  label: string;
  value: string;
  placeholder?: string;
  onApply: (value: string) => void;
}

export function TextFilter({ label, value, placeholder, onApply }: TextFilterProps) {
  const id = useId();
  const [text, setText] = useState(value);
  // A new value from outside (URL, reset) replaces the text being typed: adjusted during render.
  const [shown, setShown] = useState(value);
  if (value !== shown) {
    setShown(value);
    setText(value);
  }
  return (
    <div className="filter">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="search"
        value={text}
        placeholder={placeholder}
        onChange={(event) => setText(event.target.value)}
        onBlur={() => text.trim() !== value && onApply(text.trim())}
        onKeyDown={(event) => {
          if (event.key === "Enter") {
            event.preventDefault();
            onApply(text.trim());
          }
        }}
      />
    </div>
  );
}
