import { useState } from 'react';
import { del, get, patch, post } from '../api';
import { ActionResult, DangerButton, Field, LoadingView, Section, useAction, useLoad, when } from '../ui';
import type { Delivery, Organization, Page, Webhook } from '../types';
import { Secret } from './ApiKeys';

function Deliveries({ path }: { path: string }) {
  const page = useLoad(() => get<Page<Delivery>>(`${path}/deliveries?limit=20`), [path]);
  const retry = useAction();
  return (
    <LoadingView loaded={page}>
      {(p) => (
        <>
          <div className="scroll">
<table>
            <caption>Recent deliveries</caption>
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">State</th>
                <th scope="col">Attempts</th>
                <th scope="col">Created</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {p.items.map((d) => (
                <tr key={d.id}>
                  <td>
                    <code>{d.eventType}</code>
                  </td>
                  <td>{d.state}</td>
                  <td>{d.attempts}</td>
                  <td>{when(d.createdAt)}</td>
                  <td>
                    <button
                      type="button"
                      disabled={retry.busy}
                      onClick={() =>
                        void retry.run(async () => {
                          await post(`${path}/deliveries/${d.id}/retry`);
                          page.reload();
                          return 'Queued again.';
                        })
                      }
                    >
                      Retry<span className="visually-hidden"> delivery {d.id}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
</div>
          {p.items.length === 0 ? <p>No deliveries yet.</p> : null}
          <ActionResult action={retry} />
        </>
      )}
    </LoadingView>
  );
}

export function Webhooks({ organization }: { organization: Organization }) {
  const base = `/api/v1/organizations/${organization.id}/webhooks`;
  const hooks = useLoad(() => get<Page<Webhook>>(`${base}?limit=100`), [base]);
  const [url, setUrl] = useState('');
  const [types, setTypes] = useState('*');
  const [issued, setIssued] = useState<Webhook | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const create = useAction();
  const change = useAction();
  return (
    <>
      <Section title="Webhooks">
        <LoadingView loaded={hooks}>
          {(p) => (
            <ul className="cards">
              {p.items.length === 0 ? <li>No endpoints yet.</li> : null}
              {p.items.map((h) => (
                <li key={h.id} className="card">
                  <h3>
                    <code>{h.url}</code>{' '}
                    <span className={h.enabled ? 'status status-active' : 'status status-suspended'}>{h.enabled ? 'Enabled' : 'Disabled'}</span>
                  </h3>
                  <p>Events: {h.eventTypes.join(', ')}</p>
                  {h.disabledReason ? <p>Disabled by orgman: {h.disabledReason}</p> : null}
                  <button
                    type="button"
                    disabled={change.busy}
                    onClick={() =>
                      void change.run(async () => {
                        await patch(`${base}/${h.id}`, { enabled: !h.enabled });
                        hooks.reload();
                      })
                    }
                  >
                    {h.enabled ? 'Disable' : 'Enable'}
                    <span className="visually-hidden"> {h.url}</span>
                  </button>
                  <button
                    type="button"
                    disabled={change.busy}
                    onClick={() =>
                      void change.run(async () => {
                        setIssued(await post<Webhook>(`${base}/${h.id}/rotate-secret`, {}));
                      })
                    }
                  >
                    Rotate the secret<span className="visually-hidden"> of {h.url}</span>
                  </button>
                  <button type="button" aria-expanded={open === h.id} onClick={() => setOpen(open === h.id ? null : h.id)}>
                    Deliveries<span className="visually-hidden"> of {h.url}</span>
                  </button>
                  <DangerButton
                    action={change}
                    confirm={`Delete the endpoint ${h.url}?`}
                    work={async () => {
                      await del(`${base}/${h.id}`);
                      hooks.reload();
                    }}
                  >
                    Delete<span className="visually-hidden"> {h.url}</span>
                  </DangerButton>
                  {open === h.id ? <Deliveries path={`${base}/${h.id}`} /> : null}
                </li>
              ))}
            </ul>
          )}
        </LoadingView>
        <ActionResult action={change} />
        {issued?.secret ? <Secret what="signing secret" secret={issued.secret} /> : null}
      </Section>
      <Section title="Add an endpoint">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void create.run(async () => {
              const eventTypes = types.split(',').map((t) => t.trim()).filter(Boolean);
              setIssued(await post<Webhook>(base, { url, eventTypes }));
              setUrl('');
              hooks.reload();
            });
          }}
        >
          <Field label="URL" type="url" value={url} onChange={setUrl} required placeholder="https://hooks.example.com/orgman" />
          <Field label="Event types" value={types} onChange={setTypes} hint="Separated by commas, or * for every event." />
          <button type="submit" disabled={create.busy}>
            Add endpoint
          </button>
          <ActionResult action={create} />
        </form>
      </Section>
    </>
  );
}
