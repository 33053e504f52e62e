import { useState } from 'react';
import { del, get, patch, post } from '../api';
import { ActionResult, Check, DangerButton, Field, LoadingView, Section, Select, useAction, useLoad } from '../ui';
import type { ConnectionTest, Organization, SsoConfig } from '../types';

interface Draft {
  name: string;
  protocol: 'oidc' | 'saml';
  issuerUrl: string;
  clientId: string;
  clientSecret: string;
  metadataUrl: string;
  metadataXml: string;
  enabled: boolean;
  autoProvision: boolean;
}

const EMPTY: Draft = {
  name: '',
  protocol: 'oidc',
  issuerUrl: '',
  clientId: '',
  clientSecret: '',
  metadataUrl: '',
  metadataXml: '',
  enabled: true,
  autoProvision: false,
};

/** The request body: the secret only when typed (it is write-only). */
function bodyOf(draft: Draft, editing: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: draft.name,
    enabled: draft.enabled,
    autoProvision: draft.autoProvision,
  };
  if (!editing) body.protocol = draft.protocol;
  if (draft.protocol === 'oidc') {
    body.issuerUrl = draft.issuerUrl;
    body.clientId = draft.clientId;
    if (draft.clientSecret) body.clientSecret = draft.clientSecret;
  } else if (draft.metadataXml.trim()) {
    body.metadataXml = draft.metadataXml;
  } else {
    body.metadataUrl = draft.metadataUrl;
  }
  return body;
}

function Form({ initial, editing, onSubmit, submitLabel }: { initial: Draft; editing: boolean; onSubmit: (d: Draft) => Promise<string | void>; submitLabel: string }) {
  const [draft, setDraft] = useState(initial);
  const action = useAction();
  const set = (change: Partial<Draft>) => setDraft((d) => ({ ...d, ...change }));
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void action.run(() => onSubmit(draft));
      }}
    >
      <Field label="Name" value={draft.name} onChange={(name) => set({ name })} required />
      {editing ? null : (
        <Select
          label="Protocol"
          value={draft.protocol}
          options={[
            ['oidc', 'OpenID Connect'],
            ['saml', 'SAML 2.0'],
          ]}
          onChange={(protocol) => set({ protocol: protocol as Draft['protocol'] })}
        />
      )}
      {draft.protocol === 'oidc' ? (
        <>
          <Field label="Issuer URL" value={draft.issuerUrl} onChange={(issuerUrl) => set({ issuerUrl })} required placeholder="https://login.example.com/realms/acme" />
          <Field label="Client ID" value={draft.clientId} onChange={(clientId) => set({ clientId })} required />
          <Field
            label="Client secret"
            type="password"
            value={draft.clientSecret}
            onChange={(clientSecret) => set({ clientSecret })}
            required={!editing}
            autoComplete="new-password"
            hint={editing ? 'Write-only: leave empty to keep the stored secret.' : 'Write-only: orgman never shows it again.'}
          />
        </>
      ) : (
        <>
          <Field
            label="Metadata URL"
            value={draft.metadataUrl}
            onChange={(metadataUrl) => set({ metadataUrl })}
            placeholder="https://idp.example.com/metadata"
            hint="Read again every hour; or paste the metadata below instead."
          />
          <div className="field">
            <label htmlFor="saml-xml">Metadata XML</label>
            <textarea id="saml-xml" rows={5} value={draft.metadataXml} onChange={(e) => set({ metadataXml: e.target.value })} />
          </div>
        </>
      )}
      <Check label="Enabled" checked={draft.enabled} onChange={(enabled) => set({ enabled })} />
      <Check label="Create members at their first sign-in" checked={draft.autoProvision} onChange={(autoProvision) => set({ autoProvision })} />
      <button type="submit" disabled={action.busy}>
        {submitLabel}
      </button>
      <ActionResult action={action} />
    </form>
  );
}

function TestResult({ result }: { result: ConnectionTest }) {
  return (
    <div role="status" className={result.reachable ? 'test ok' : 'test failed'}>
      <p>
        <strong>{result.reachable ? 'Every step passed.' : 'The test failed.'}</strong> {result.detail}
      </p>
      <ol className="steps">
        {result.steps.map((s) => (
          <li key={s.name} className={s.ok ? 'ok' : 'failed'}>
            <span aria-hidden="true">{s.ok ? '✓' : '✗'}</span> <strong>{s.name}</strong>: {s.ok ? 'passed' : 'failed'} — {s.detail}
          </li>
        ))}
      </ol>
    </div>
  );
}

function ConfigCard({ config, base, onChanged }: { config: SsoConfig; base: string; onChanged: () => void }) {
  const [editing, setEditing] = useState(false);
  const [result, setResult] = useState<ConnectionTest | null>(null);
  const action = useAction();
  const path = `${base}/${config.id}`;
  return (
    <li className="card">
      <h3>
        {config.name} <span className="role">{config.protocol === 'oidc' ? 'OpenID Connect' : 'SAML'}</span>{' '}
        <span className={config.enabled ? 'status status-active' : 'status status-suspended'}>{config.enabled ? 'Enabled' : 'Disabled'}</span>
      </h3>
      <p>{config.issuerUrl ?? config.metadataUrl}</p>
      <button
        type="button"
        disabled={action.busy}
        onClick={() =>
          void action.run(async () => {
            setResult(null);
            setResult(await post<ConnectionTest>(`${path}/test`));
          })
        }
      >
        Test the connection<span className="visually-hidden"> of {config.name}</span>
      </button>
      <button type="button" onClick={() => setEditing((e) => !e)} aria-expanded={editing}>
        Edit<span className="visually-hidden"> {config.name}</span>
      </button>
      <DangerButton
        action={action}
        confirm={`Delete ${config.name}? Its users can no longer sign in through it.`}
        work={async () => {
          await del(path);
          onChanged();
        }}
      >
        Delete<span className="visually-hidden"> {config.name}</span>
      </DangerButton>
      {action.busy ? <p aria-busy="true">Working…</p> : null}
      <ActionResult action={action} />
      {result ? <TestResult result={result} /> : null}
      {editing ? (
        <Form
          editing
          submitLabel="Save"
          initial={{
            ...EMPTY,
            name: config.name,
            protocol: config.protocol,
            issuerUrl: config.issuerUrl ?? '',
            clientId: config.clientId ?? '',
            metadataUrl: config.metadataUrl ?? '',
            enabled: config.enabled,
            autoProvision: config.autoProvision,
          }}
          onSubmit={async (draft) => {
            await patch(path, bodyOf(draft, true));
            setEditing(false);
            onChanged();
          }}
        />
      ) : null}
    </li>
  );
}

export function SsoConfigs({ organization }: { organization: Organization }) {
  const base = `/api/v1/organizations/${organization.id}/sso-configs`;
  const configs = useLoad(() => get<SsoConfig[]>(base), [base]);
  const [round, setRound] = useState(0);
  return (
    <>
      <Section title="Single sign-on">
        <LoadingView loaded={configs}>
          {(items) =>
            items.length === 0 ? (
              <p>No identity provider is configured.</p>
            ) : (
              <ul className="cards">
                {items.map((c) => (
                  <ConfigCard key={c.id} config={c} base={base} onChanged={configs.reload} />
                ))}
              </ul>
            )
          }
        </LoadingView>
      </Section>
      <Section title="Add an identity provider">
        <Form
          key={round}
          editing={false}
          submitLabel="Create"
          initial={EMPTY}
          onSubmit={async (draft) => {
            await post(base, bodyOf(draft, false));
            configs.reload();
            setRound((r) => r + 1);
            return 'Created. Run its connection test above.';
          }}
        />
      </Section>
    </>
  );
}
