// Shared pieces: loading with errors, actions that report their outcome,
// labelled fields, copy buttons. Nothing fails silently: every failed
// call ends in a visible, announced message.
import { useCallback, useEffect, useId, useState, type ReactNode } from 'react';
import { ApiProblem } from './api';

export function asProblem(error: unknown): ApiProblem {
  if (error instanceof ApiProblem) return error;
  return new ApiProblem(-1, 'client-error', error instanceof Error ? error.message : String(error));
}

export interface Loaded<T> {
  data: T | undefined;
  problem: ApiProblem | undefined;
  loading: boolean;
  reload: () => void;
}

export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T>();
  const [problem, setProblem] = useState<ApiProblem>();
  const [loading, setLoading] = useState(true);
  const [round, setRound] = useState(0);
  useEffect(() => {
    let current = true;
    setLoading(true);
    load()
      .then((value) => {
        if (!current) return;
        setData(value);
        setProblem(undefined);
      })
      .catch((error: unknown) => current && setProblem(asProblem(error)))
      .finally(() => current && setLoading(false));
    return () => {
      current = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  return { data, problem, loading, reload };
}

export interface Action {
  busy: boolean;
  problem: ApiProblem | undefined;
  done: string | undefined;
  run: (work: () => Promise<string | void>) => Promise<boolean>;
  clear: () => void;
}

/** Runs a change, keeping its failure (or its success message) to show. */
export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<ApiProblem>();
  const [done, setDone] = useState<string>();
  const run = useCallback(async (work: () => Promise<string | void>) => {
    setBusy(true);
    setProblem(undefined);
    setDone(undefined);
    try {
      const message = await work();
      if (message) setDone(message);
      return true;
    } catch (error) {
      setProblem(asProblem(error));
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  const clear = useCallback(() => {
    setProblem(undefined);
    setDone(undefined);
  }, []);
  return { busy, problem, done, run, clear };
}

export function ProblemView({ problem, onReload }: { problem?: ApiProblem; onReload?: () => void }) {
  if (!problem) return null;
  return (
    <div className="problem" role="alert">
      <strong>{problem.headline()}</strong>
      {problem.detail && problem.status !== 0 ? <p>{problem.detail}</p> : null}
      {problem.errors.length > 0 ? (
        <ul>
          {problem.errors.map((e) => (
            <li key={e.field + e.message}>
              <code>{e.field}</code>: {e.message}
            </li>
          ))}
        </ul>
      ) : null}
      {problem.organizations.length > 0 ? (
        <p>Organizations concerned: {problem.organizations.join(', ')}</p>
      ) : null}
      {problem.status === 412 && onReload ? (
        <button type="button" onClick={onReload}>
          Reload the latest version
        </button>
      ) : null}
      {problem.status === 401 ? (
        <button type="button" onClick={() => window.location.assign('/console/')}>
          Sign in again
        </button>
      ) : null}
      <span className="code">({problem.code})</span>
    </div>
  );
}

export function ActionResult({ action, onReload }: { action: Action; onReload?: () => void }) {
  return (
    <>
      <ProblemView problem={action.problem} onReload={onReload} />
      {action.done ? (
        <p className="done" role="status">
          {action.done}
        </p>
      ) : null}
    </>
  );
}

export function LoadingView<T>({ loaded, children }: { loaded: Loaded<T>; children: (data: T) => ReactNode }) {
  if (loaded.problem) return <ProblemView problem={loaded.problem} onReload={loaded.reload} />;
  if (loaded.data === undefined) return <p aria-busy="true">Loading…</p>;
  return <>{children(loaded.data)}</>;
}

export function Field(props: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  type?: string;
  required?: boolean;
  placeholder?: string;
  hint?: string;
  autoComplete?: string;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <input
        id={id}
        type={props.type ?? 'text'}
        value={props.value}
        required={props.required}
        placeholder={props.placeholder}
        autoComplete={props.autoComplete ?? 'off'}
        aria-describedby={props.hint ? `${id}-hint` : undefined}
        onChange={(e) => props.onChange(e.target.value)}
      />
      {props.hint ? (
        <small id={`${id}-hint`} className="hint">
          {props.hint}
        </small>
      ) : null}
    </div>
  );
}

export function Check(props: { label: string; checked: boolean; onChange: (value: boolean) => void; disabled?: boolean }) {
  const id = useId();
  return (
    <div className="check">
      <input
        id={id}
        type="checkbox"
        checked={props.checked}
        disabled={props.disabled}
        onChange={(e) => props.onChange(e.target.checked)}
      />
      <label htmlFor={id}>{props.label}</label>
    </div>
  );
}

export function Select(props: {
  label: string;
  value: string;
  options: [string, string][];
  onChange: (value: string) => void;
  hideLabel?: boolean;
}) {
  const id = useId();
  return (
    <div className={props.hideLabel ? 'field inline' : 'field'}>
      <label htmlFor={id} className={props.hideLabel ? 'visually-hidden' : undefined}>
        {props.label}
      </label>
      <select id={id} value={props.value} onChange={(e) => props.onChange(e.target.value)}>
        {props.options.map(([value, text]) => (
          <option key={value} value={value}>
            {text}
          </option>
        ))}
      </select>
    </div>
  );
}

/** Copies `text`; says so, or says to copy by hand when the browser refuses. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [said, setSaid] = useState('');
  return (
    <span className="copy">
      <button
        type="button"
        onClick={() =>
          navigator.clipboard
            .writeText(text)
            .then(() => setSaid('Copied.'))
            .catch(() => setSaid('The browser refused: select the text and copy it.'))
        }
      >
        {label}
      </button>
      <span role="status">{said}</span>
    </span>
  );
}

export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  return new Date(iso).toLocaleString();
}

export function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section aria-labelledby={`${title.replace(/\W+/g, '-')}-title`}>
      <h2 id={`${title.replace(/\W+/g, '-')}-title`}>{title}</h2>
      {children}
    </section>
  );
}

/** Keyset pages walked forward and back: the cursors of the pages passed. */
export interface Cursors {
  /** The `after` of the page shown (`undefined`: the first). */
  cursor: string | undefined;
  /** Pages behind the one shown. */
  depth: number;
  forward: (next: string) => void;
  back: () => void;
  reset: () => void;
}

export function useCursors(): Cursors {
  const [passed, setPassed] = useState<string[]>([]);
  return {
    cursor: passed[passed.length - 1],
    depth: passed.length,
    forward: (next) => setPassed((p) => [...p, next]),
    back: () => setPassed((p) => p.slice(0, -1)),
    reset: () => setPassed([]),
  };
}

/** Back and forward buttons over `cursors`, forward while there is a next page. */
export function Pager({
  cursors,
  next,
  labels = ['Previous page', 'Next page'],
}: {
  cursors: Cursors;
  next: string | null | undefined;
  labels?: [string, string];
}) {
  return (
    <div className="pager">
      {cursors.depth > 0 ? (
        <button type="button" onClick={cursors.back}>
          {labels[0]}
        </button>
      ) : null}
      {next ? (
        <button type="button" onClick={() => cursors.forward(next)}>
          {labels[1]}
        </button>
      ) : null}
    </div>
  );
}

/** A destructive change: asks first, then runs `work` through `action`. */
export function DangerButton({
  action,
  confirm,
  work,
  children,
}: {
  action: Action;
  confirm: string;
  work: () => Promise<string | void>;
  children: ReactNode;
}) {
  return (
    <button
      type="button"
      className="danger"
      disabled={action.busy}
      onClick={() => {
        if (window.confirm(confirm)) void action.run(work);
      }}
    >
      {children}
    </button>
  );
}
