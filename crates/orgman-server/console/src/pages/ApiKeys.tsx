import { useState } from 'react';
import { del, get, post } from '../api';
import { ActionResult, CopyButton, DangerButton, Field, LoadingView, Section, useAction, useLoad, when } from '../ui';
import type { ApiKey, Organization, Page } from '../types';
import { PermissionPicker } from './Roles';

export function Secret({ what, secret }: { what: string; secret: string }) {
  return (
    <div className="issued" role="status">
      <p>Copy the {what} now: it is shown only once.</p>
      <p>
        <code className="secret">{secret}</code> <CopyButton text={secret} label={`Copy the ${what}`} />
      </p>
    </div>
  );
}

export function ApiKeys({ organization, preset }: { organization: Organization; preset?: string[] }) {
  const base = `/api/v1/organizations/${organization.id}/api-keys`;
  const keys = useLoad(() => get<Page<ApiKey>>(`${base}?limit=100`), [base]);
  const [name, setName] = useState('');
  const [permissions, setPermissions] = useState<string[]>(preset ?? []);
  const [issued, setIssued] = useState<ApiKey | null>(null);
  const create = useAction();
  const revoke = useAction();
  return (
    <>
      <Section title="API keys">
        <LoadingView loaded={keys}>
          {(p) => (
            <div className="scroll">
<table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Prefix</th>
                  <th scope="col">Permissions</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {p.items.map((k) => (
                  <tr key={k.id}>
                    <td>{k.name}</td>
                    <td>
                      <code>{k.prefix}</code>
                    </td>
                    <td>{k.permissions.join(', ')}</td>
                    <td>{when(k.lastUsedAt)}</td>
                    <td>
                      {k.revokedAt ? (
                        `Revoked ${when(k.revokedAt)}`
                      ) : (
                        <>
                        <button
                          type="button"
                          disabled={revoke.busy}
                          onClick={() => {
                            if (!window.confirm(`Rotate ${k.name}? The old secret keeps working for one hour.`)) return;
                            void revoke.run(async () => {
                              setIssued(await post<ApiKey>(`${base}/${k.id}/rotate`, { overlapSeconds: 3600 }));
                              keys.reload();
                            });
                          }}
                        >
                          Rotate<span className="visually-hidden"> {k.name}</span>
                        </button>
                        <DangerButton
                          action={revoke}
                          confirm={`Revoke ${k.name}? Callers using it are refused at once.`}
                          work={async () => {
                            await del(`${base}/${k.id}`);
                            keys.reload();
                          }}
                        >
                          Revoke<span className="visually-hidden"> {k.name}</span>
                        </DangerButton>
                        </>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
</div>
          )}
        </LoadingView>
        <ActionResult action={revoke} />
        {issued?.secret ? <Secret what="key" secret={issued.secret} /> : null}
      </Section>
      <Section title="Create a key">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void create.run(async () => {
              setIssued(await post<ApiKey>(base, { name, permissions }));
              setName('');
              keys.reload();
            });
          }}
        >
          <Field label="Key name" value={name} onChange={setName} required />
          <PermissionPicker chosen={permissions} onChange={setPermissions} />
          <button type="submit" disabled={create.busy}>
            Create key
          </button>
          <ActionResult action={create} />
        </form>
      </Section>
    </>
  );
}
