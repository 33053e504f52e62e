import { useEffect, useState } from 'react';
import { call, post, type Answer } from '../api';
import { ActionResult, DangerButton, Field, LoadingView, Section, useAction, useLoad, when } from '../ui';
import type { Organization } from '../types';

function Editor({ answer, onSaved, onReload }: { answer: Answer<Organization>; onSaved: () => void; onReload: () => void }) {
  const o = answer.data;
  const [name, setName] = useState(o.name);
  const [metadata, setMetadata] = useState(JSON.stringify(o.metadata, null, 2));
  const save = useAction();
  useEffect(() => {
    setName(o.name);
    setMetadata(JSON.stringify(o.metadata, null, 2));
  }, [o]);
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void save.run(async () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(metadata || '{}');
          } catch {
            throw new Error('Metadata must be a JSON object, such as {"plan": "gold"}.');
          }
          // Metadata is a merge patch: keys removed here are sent as null.
          const patch: Record<string, unknown> = { ...(parsed as Record<string, unknown>) };
          for (const key of Object.keys(o.metadata)) if (!(key in patch)) patch[key] = null;
          await call('PATCH', `/api/v1/organizations/${o.id}`, {
            body: { name, metadata: patch },
            ifMatch: answer.etag,
          });
          onSaved();
          return 'Saved.';
        });
      }}
    >
      <Field label="Name" value={name} onChange={setName} required />
      <div className="field">
        <label htmlFor="metadata">Metadata (JSON)</label>
        <textarea id="metadata" rows={6} value={metadata} onChange={(e) => setMetadata(e.target.value)} />
      </div>
      <button type="submit" disabled={save.busy}>
        Save
      </button>
      <ActionResult action={save} onReload={onReload} />
    </form>
  );
}

export function Overview({ organization, onChanged }: { organization: Organization; onChanged: () => void }) {
  const loaded = useLoad(() => call<Organization>('GET', `/api/v1/organizations/${organization.id}`), [organization.id]);
  const deletion = useAction();
  return (
    <>
      <Section title="Organization">
        <dl className="facts">
          <dt>Slug</dt>
          <dd>
            <code>{organization.slug}</code>
          </dd>
          <dt>Status</dt>
          <dd>{organization.status}</dd>
          <dt>Members allowed</dt>
          <dd>{organization.maxMembers ?? 'no limit'}</dd>
          <dt>Created</dt>
          <dd>{when(organization.createdAt)}</dd>
          {organization.purgeAfter ? (
            <>
              <dt>Deleted for good after</dt>
              <dd>{when(organization.purgeAfter)}</dd>
            </>
          ) : null}
          <dt>Id</dt>
          <dd>
            <code>{organization.id}</code>
          </dd>
        </dl>
      </Section>
      <Section title="Edit">
        <LoadingView loaded={loaded}>
          {(answer) => (
            <Editor
              answer={answer}
              onReload={loaded.reload}
              onSaved={() => {
                loaded.reload();
                onChanged();
              }}
            />
          )}
        </LoadingView>
      </Section>
      {organization.status === 'ACTIVE' ? (
        <Section title="Delete">
          <p>Deleting starts a grace period; a platform administrator can restore the organization until it ends.</p>
          <DangerButton
            action={deletion}
            confirm={`Delete ${organization.name}? Members lose access now.`}
            work={async () => {
              await post(`/api/v1/organizations/${organization.id}/request-deletion`);
              onChanged();
              return 'Deletion requested.';
            }}
          >
            Request deletion
          </DangerButton>
          <ActionResult action={deletion} />
        </Section>
      ) : null}
    </>
  );
}
