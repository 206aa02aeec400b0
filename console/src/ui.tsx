// The few building blocks every screen uses: labelled fields that show
// their own errors, notices, and loading data with its problem.
import type { ComponentChildren, JSX } from "preact";
import { useCallback, useEffect, useId, useState } from "preact/hooks";

import { type Problem, problem } from "./errors";

/** What ties a control to its label, hint and error. */
interface A11y {
  id: string;
  "aria-invalid"?: boolean;
  "aria-describedby"?: string;
}

interface FieldProps {
  label: string;
  /** The request's field path, whose violation shows here. */
  field?: string;
  errors?: Record<string, string>;
  hint?: ComponentChildren;
}

/** A label, the control, a hint and the field's error, tied together for
 *  screen readers (`aria-describedby`, `aria-invalid`). */
function Labelled(props: FieldProps & { control: (a: A11y) => JSX.Element }) {
  const id = useId();
  const error = props.field ? props.errors?.[props.field] : undefined;
  const described = [props.hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  return (
    <div class={error ? "field invalid" : "field"} data-field={props.field}>
      <label for={id}>{props.label}</label>
      {props.control({ id, "aria-invalid": error ? true : undefined, "aria-describedby": described || undefined })}
      {props.hint && <p class="hint" id={`${id}-hint`}>{props.hint}</p>}
      {error && <p class="error" id={`${id}-error`}>{error}</p>}
    </div>
  );
}

export function TextField(props: FieldProps & { value: string; onInput: (v: string) => void; type?: "text" | "password" | "url"; placeholder?: string; disabled?: boolean; autocomplete?: string; multiline?: boolean }) {
  return (
    <Labelled
      {...props}
      control={(a) =>
        props.multiline ? (
          <textarea {...a} value={props.value} disabled={props.disabled} placeholder={props.placeholder} onInput={(e) => props.onInput(e.currentTarget.value)} />
        ) : (
          <input {...a} type={(props.type ?? "text") as "text"} value={props.value} disabled={props.disabled} placeholder={props.placeholder} autocomplete={props.autocomplete ?? "off"} spellcheck={false} onInput={(e) => props.onInput(e.currentTarget.value)} />
        )
      }
    />
  );
}

export function NumberField(props: FieldProps & { value: number; onInput: (v: number) => void; min: number; max: number; step?: number; disabled?: boolean }) {
  return (
    <Labelled
      {...props}
      control={(a) => (
        <input {...a} type="number" inputMode="numeric" min={props.min} max={props.max} step={props.step ?? 1} value={props.value} disabled={props.disabled} onInput={(e) => props.onInput(Number(e.currentTarget.value))} />
      )}
    />
  );
}

export function SelectField<T extends string | number>(props: FieldProps & { value: T; options: { value: T; label: string }[]; onChange: (v: T) => void; disabled?: boolean }) {
  return (
    <Labelled
      {...props}
      control={(a) => (
        <select
          {...a}
          value={String(props.value)}
          disabled={props.disabled}
          onChange={(e) => {
            const chosen = props.options.find((o) => String(o.value) === e.currentTarget.value);
            if (chosen) props.onChange(chosen.value);
          }}
        >
          {props.options.map((o) => (
            <option key={String(o.value)} value={String(o.value)}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    />
  );
}

export function Check(props: { label: ComponentChildren; checked: boolean; onChange: (v: boolean) => void; disabled?: boolean; hint?: string }) {
  const id = useId();
  return (
    <div class="check">
      <input id={id} type="checkbox" checked={props.checked} disabled={props.disabled} aria-describedby={props.hint ? `${id}-hint` : undefined} onChange={(e) => props.onChange(e.currentTarget.checked)} />
      <label for={id}>{props.label}</label>
      {props.hint && <p class="hint" id={`${id}-hint`}>{props.hint}</p>}
    </div>
  );
}

/** A problem in words, announced to screen readers. */
export function Notice(props: { problem?: Problem; children?: ComponentChildren; tone?: "error" | "ok" | "info" }) {
  if (!props.problem && !props.children) return null;
  const tone = props.tone ?? (props.problem ? "error" : "info");
  return (
    <div class={`notice ${tone}`} role={tone === "error" ? "alert" : "status"}>
      {props.problem?.message}
      {props.children}
    </div>
  );
}

export interface Loaded<T> {
  data?: T;
  problem?: Problem;
  reload: () => void;
}

/** `load()` now and whenever `deps` change or `reload` is called. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; problem?: Problem }>({});
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let current = true;
    load().then(
      (data) => current && setState({ data }),
      (err: unknown) => current && setState({ problem: problem(err) }),
    );
    return () => {
      current = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

/** A value that can be copied with one click, e.g. a secret shown once. */
export function Copyable(props: { label: string; value: string }) {
  const [copied, setCopied] = useState(false);
  const id = useId();
  return (
    <div class="copyable">
      <label for={id}>{props.label}</label>
      <div class="row">
        <input id={id} readOnly value={props.value} class="mono" onFocus={(e) => e.currentTarget.select()} />
        <button
          type="button"
          onClick={() =>
            navigator.clipboard.writeText(props.value).then(
              () => setCopied(true),
              () => setCopied(false),
            )
          }
        >
          {copied ? "Copied" : "Copy"}
        </button>
      </div>
    </div>
  );
}
