import { useState } from 'react';
import { get } from '../api';
import { Field, LoadingView, Pager, Section, Select, useCursors, useLoad, when } from '../ui';
import type { AuditEvent, Organization, Page } from '../types';

export function AuditTable({ page }: { page: Page<AuditEvent> }) {
  return (
    <>
      <div className="scroll">
<table>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Change</th>
            <th scope="col">By</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {page.items.map((e) => (
            <tr key={e.id}>
              <td>{when(e.occurredAt)}</td>
              <td>
                <code>{e.type}</code>
              </td>
              <td>
                {e.actor ? (
                  <>
                    {e.actorKind} <code>{e.actor}</code>
                  </>
                ) : (
                  'orgman'
                )}
              </td>
              <td>
                <details>
                  <summary>
                    Show<span className="visually-hidden"> the details of {e.type}</span>
                  </summary>
                  <dl className="facts">
                    <dt>Event id</dt>
                    <dd>
                      <code>{e.id}</code>
                    </dd>
                    <dt>Request</dt>
                    <dd>
                      <code>{e.requestId ?? '—'}</code>
                    </dd>
                  </dl>
                  <pre>{JSON.stringify(e.data, null, 2)}</pre>
                </details>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
</div>
      {page.items.length === 0 ? <p>No entries match.</p> : null}
    </>
  );
}

export function Audit({ organization }: { organization: Organization }) {
  const [type, setType] = useState('');
  const [actor, setActor] = useState('');
  const [actorKind, setActorKind] = useState('');
  const pages = useCursors();
  const cursor = pages.cursor;
  const params = new URLSearchParams({ limit: '50' });
  if (type) params.set('type', type);
  if (/^[0-9a-f-]{36}$/i.test(actor)) params.set('actor', actor);
  if (actorKind) params.set('actorKind', actorKind);
  if (cursor) params.set('after', cursor);
  const query = `/api/v1/organizations/${organization.id}/audit-events?${params}`;
  const page = useLoad(() => get<Page<AuditEvent>>(query), [query]);
  const reset = pages.reset;
  return (
    <Section title="Audit trail">
      <div className="filters">
        <Field label="Change type" value={type} onChange={(v) => { setType(v); reset(); }} placeholder="organization.member.added" />
        <Field label="Actor id" value={actor} onChange={(v) => { setActor(v); reset(); }} hint="A user's or key's id (filters once complete)." />
        <Select
          label="Actor kind"
          value={actorKind}
          options={[
            ['', 'Anyone'],
            ['user', 'People'],
            ['apiKey', 'API keys'],
            ['scimClient', 'SCIM clients'],
          ]}
          onChange={(v) => { setActorKind(v); reset(); }}
        />
      </div>
      <LoadingView loaded={page}>
        {(p) => (
          <>
            <AuditTable page={p} />
            <Pager cursors={pages} next={p.nextCursor} labels={['Newer entries', 'Older entries']} />
          </>
        )}
      </LoadingView>
    </Section>
  );
}
