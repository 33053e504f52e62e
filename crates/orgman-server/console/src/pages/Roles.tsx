import { useState } from 'react';
import { del, get, post } from '../api';
import { ActionResult, Check, DangerButton, Field, LoadingView, Section, useAction, useLoad } from '../ui';
import type { Organization, Permission, Role } from '../types';

export function PermissionPicker({ chosen, onChange }: { chosen: string[]; onChange: (names: string[]) => void }) {
  const catalog = useLoad(() => get<Permission[]>('/api/v1/permissions'), []);
  return (
    <fieldset>
      <legend>Permissions</legend>
      <LoadingView loaded={catalog}>
        {(items) => (
          <div className="permissions">
            {items.map((p) => (
              <Check
                key={p.name}
                label={`${p.name}${p.description ? ` — ${p.description}` : ''}`}
                checked={chosen.includes(p.name)}
                onChange={(on) => onChange(on ? [...chosen, p.name] : chosen.filter((n) => n !== p.name))}
              />
            ))}
          </div>
        )}
      </LoadingView>
    </fieldset>
  );
}

export function Roles({ organization }: { organization: Organization }) {
  const base = `/api/v1/organizations/${organization.id}/roles`;
  const roles = useLoad(() => get<Role[]>(base), [base]);
  const [key, setKey] = useState('');
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [permissions, setPermissions] = useState<string[]>([]);
  const create = useAction();
  const remove = useAction();
  return (
    <>
      <Section title="Roles">
        <p>Built-in roles: OWNER (everything), ADMIN (runs the organization), MEMBER. Custom roles add permissions of the catalog.</p>
        <LoadingView loaded={roles}>
          {(items) => (
            <div className="scroll">
<table>
              <thead>
                <tr>
                  <th scope="col">Key</th>
                  <th scope="col">Name</th>
                  <th scope="col">Permissions</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {items.map((r) => (
                  <tr key={r.key}>
                    <td>
                      <code>{r.key}</code>
                    </td>
                    <td>
                      {r.name}
                      {r.scope === 'platform' ? ' (platform)' : ''}
                    </td>
                    <td>{r.permissions.join(', ')}</td>
                    <td>
                      {r.scope === 'platform' ? null : (
                        <DangerButton
                          action={remove}
                          confirm={`Delete the role ${r.name}?`}
                          work={async () => {
                            await del(`${base}/${r.key}`);
                            roles.reload();
                          }}
                        >
                          Delete<span className="visually-hidden"> {r.name}</span>
                        </DangerButton>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
</div>
          )}
        </LoadingView>
        <ActionResult action={remove} />
      </Section>
      <Section title="Define a role">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void create.run(async () => {
              await post(base, { key, name, description, permissions });
              setKey('');
              setName('');
              setDescription('');
              setPermissions([]);
              roles.reload();
              return 'Role defined.';
            });
          }}
        >
          <Field label="Key" value={key} onChange={setKey} required hint="a-z, 0-9, _ and -; not owner, admin or member." />
          <Field label="Name" value={name} onChange={setName} required />
          <Field label="Description" value={description} onChange={setDescription} />
          <PermissionPicker chosen={permissions} onChange={setPermissions} />
          <button type="submit" disabled={create.busy}>
            Define
          </button>
          <ActionResult action={create} />
        </form>
      </Section>
    </>
  );
}
