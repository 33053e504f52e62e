import { useState } from 'react';
import { get, post, put } from '../api';
import { ActionResult, Field, LoadingView, Pager, Section, useAction, useCursors, useLoad } from '../ui';
import type { Organization, Page } from '../types';

/** The lifecycle actions each status allows a platform administrator. */
const ACTIONS: Record<string, [string, string][]> = {
  ACTIVE: [
    ['suspend', 'Suspend'],
    ['request-deletion', 'Delete'],
  ],
  SUSPENDED: [
    ['reactivate', 'Reactivate'],
    ['request-deletion', 'Delete'],
  ],
  PENDING_DELETION: [
    ['restore', 'Restore'],
    ['purge', 'Purge'],
  ],
  DELETED: [],
};

function Row({ organization, onChanged }: { organization: Organization; onChanged: () => void }) {
  const action = useAction();
  const [limit, setLimit] = useState(organization.maxMembers?.toString() ?? '');
  const base = `/api/v1/organizations/${organization.id}`;
  return (
    <tr>
      <td>
        <a href={`#/org/${organization.id}`}>{organization.name}</a> <code>{organization.slug}</code>
      </td>
      <td>
        <span className={`status status-${organization.status.toLowerCase()}`}>{organization.status}</span>
      </td>
      <td>
        {(ACTIONS[organization.status] ?? []).map(([verb, label]) => (
          <button
            key={verb}
            type="button"
            className={verb === 'purge' || verb === 'request-deletion' ? 'danger' : undefined}
            disabled={action.busy}
            onClick={() => {
              if ((verb === 'purge' || verb === 'request-deletion') && !window.confirm(`${label} ${organization.name}?`)) return;
              void action.run(async () => {
                await post(`${base}/${verb}`);
                onChanged();
                return `${organization.name}: ${label.toLowerCase()} done.`;
              });
            }}
          >
            {label}
            <span className="visually-hidden"> {organization.name}</span>
          </button>
        ))}
        <ActionResult action={action} />
      </td>
      <td>
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            void action.run(async () => {
              await put(`${base}/member-limit`, { maxMembers: limit === '' ? null : Number(limit) });
              onChanged();
              return 'Limit saved.';
            });
          }}
        >
          <Field label={`Member limit of ${organization.name}`} type="number" value={limit} onChange={setLimit} placeholder="none" />
          <button type="submit" disabled={action.busy}>
            Set<span className="visually-hidden"> the member limit of {organization.name}</span>
          </button>
        </form>
      </td>
    </tr>
  );
}

export function Platform() {
  const pages = useCursors();
  const cursor = pages.cursor;
  const page = useLoad(() => get<Page<Organization>>(`/api/v1/organizations?limit=50${cursor ? `&after=${cursor}` : ''}`), [cursor]);
  return (
    <>
      <h1>All organizations</h1>
      <Section title="Organizations and their lifecycle">
        <LoadingView loaded={page}>
          {(p) => (
            <>
              <div className="scroll">
<table>
                <thead>
                  <tr>
                    <th scope="col">Organization</th>
                    <th scope="col">Status</th>
                    <th scope="col">Lifecycle</th>
                    <th scope="col">Member limit</th>
                  </tr>
                </thead>
                <tbody>
                  {p.items.map((o) => (
                    <Row key={o.id} organization={o} onChanged={page.reload} />
                  ))}
                </tbody>
              </table>
</div>
              <Pager cursors={pages} next={p.nextCursor} />
            </>
          )}
        </LoadingView>
      </Section>
    </>
  );
}
