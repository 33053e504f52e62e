import { useEffect, useState } from 'react';
import { get, post, put } from '../api';
import { ActionResult, CopyButton, Field, LoadingView, Section, useAction, useLoad } from '../ui';
import type { ApiKey, Organization } from '../types';
import { Secret } from './ApiKeys';

interface Mapping {
  group?: string;
  groupId?: string;
  role: string;
}

export function Directory({ organization }: { organization: Organization }) {
  const baseUrl = `${window.location.origin}/scim/v2/organizations/${organization.id}`;
  const path = `/api/v1/organizations/${organization.id}/directory/group-roles`;
  const loaded = useLoad(() => get<{ mappings: Mapping[] }>(path), [path]);
  const [rows, setRows] = useState<Mapping[]>([]);
  const [issued, setIssued] = useState<ApiKey | null>(null);
  const save = useAction();
  const key = useAction();
  useEffect(() => setRows(loaded.data?.mappings ?? []), [loaded.data]);
  const set = (index: number, change: Partial<Mapping>) => setRows((r) => r.map((m, i) => (i === index ? { ...m, ...change } : m)));
  return (
    <>
      <Section title="Directory sync (SCIM 2.0)">
        <p>Give your directory (Entra ID, Okta, …) the base URL and a key that holds <code>scim:provision</code>.</p>
        <p>
          Base URL: <code>{baseUrl}</code> <CopyButton text={baseUrl} label="Copy the base URL" />
        </p>
        <button
          type="button"
          disabled={key.busy}
          onClick={() =>
            void key.run(async () => {
              setIssued(
                await post<ApiKey>(`/api/v1/organizations/${organization.id}/api-keys`, {
                  name: `SCIM ${new Date().toISOString().slice(0, 10)}`,
                  permissions: ['scim:provision'],
                }),
              );
            })
          }
        >
          Create a SCIM key
        </button>
        <ActionResult action={key} />
        {issued?.secret ? <Secret what="SCIM key" secret={issued.secret} /> : null}
      </Section>
      <Section title="Groups and roles">
        <p>Members of a directory group hold its role here (the first mapping that names one of their groups wins).</p>
        <LoadingView loaded={loaded}>
          {() => (
            <form
              onSubmit={(e) => {
                e.preventDefault();
                void save.run(async () => {
                  await put(path, { mappings: rows });
                  loaded.reload();
                  return 'Mappings saved.';
                });
              }}
            >
              {rows.map((m, i) => (
                <fieldset key={i} className="row">
                  <legend>Mapping {i + 1}</legend>
                  <Field label="Group name" value={m.group ?? ''} onChange={(group) => set(i, { group, groupId: undefined })} />
                  <Field label="Role" value={m.role} onChange={(role) => set(i, { role })} hint="ADMIN, MEMBER or a custom role key." />
                  <button type="button" onClick={() => setRows((r) => r.filter((_, j) => j !== i))}>
                    Remove mapping {i + 1}
                  </button>
                </fieldset>
              ))}
              <button type="button" onClick={() => setRows((r) => [...r, { group: '', role: 'MEMBER' }])}>
                Add a mapping
              </button>
              <button type="submit" disabled={save.busy}>
                Save mappings
              </button>
              <ActionResult action={save} />
            </form>
          )}
        </LoadingView>
      </Section>
    </>
  );
}
