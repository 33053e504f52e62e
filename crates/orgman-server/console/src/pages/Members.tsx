import { useState } from 'react';
import { del, download, get, patch, post, upload } from '../api';
import { ActionResult, DangerButton, Field, LoadingView, Pager, Section, Select, useAction, useCursors, useLoad, when } from '../ui';
import { BUILT_IN_ROLES, type ImportReport, type Member, type Organization, type Page } from '../types';

function Import({ organization, onDone }: { organization: Organization; onDone: () => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [sent, setSent] = useState<number | null>(null);
  const [report, setReport] = useState<ImportReport | null>(null);
  const action = useAction();
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        if (!file) return;
        setReport(null);
        void action.run(async () => {
          const form = new FormData();
          form.append('file', file, file.name);
          setSent(0);
          const result = await upload<ImportReport>(`/api/v1/organizations/${organization.id}/members/import`, form, setSent);
          setReport(result);
          onDone();
        }).finally(() => setSent(null));
      }}
    >
      <div className="field">
        <label htmlFor="import-file">CSV file</label>
        <input
          id="import-file"
          type="file"
          accept=".csv,text/csv,text/plain"
          aria-describedby="import-hint"
          onChange={(e) => setFile(e.target.files?.[0] ?? null)}
        />
        <small id="import-hint" className="hint">
          A header naming a <code>userId</code> column, optionally <code>role</code> (OWNER, ADMIN, MEMBER) and{' '}
          <code>roles</code> (custom role keys separated by <code>;</code>).
        </small>
      </div>
      <button type="submit" disabled={!file || action.busy}>
        Import
      </button>
      {sent !== null ? (
        <div className="progress">
          <label htmlFor="import-progress">{sent < 1 ? 'Uploading' : 'Uploaded; orgman is applying the rows'}</label>
          <progress id="import-progress" max={1} value={sent < 1 ? sent : undefined} />
        </div>
      ) : null}
      <ActionResult action={action} />
      {report ? (
        <div role="status" className="report">
          <p>
            Import finished: <strong>{report.added}</strong> added, <strong>{report.unchanged}</strong> unchanged,{' '}
            <strong>{report.failed}</strong> refused.
          </p>
          {report.rows.length > 0 ? (
            <div className="scroll">
<table>
              <caption>Refused rows{report.rowsTruncated ? ' (the first ones)' : ''}</caption>
              <thead>
                <tr>
                  <th scope="col">Line</th>
                  <th scope="col">User</th>
                  <th scope="col">Problem</th>
                </tr>
              </thead>
              <tbody>
                {report.rows.map((r) => (
                  <tr key={r.line}>
                    <td>{r.line}</td>
                    <td>
                      <code>{r.userId ?? '—'}</code>
                    </td>
                    <td>
                      {r.detail} <span className="code">({r.code})</span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
</div>
          ) : null}
        </div>
      ) : null}
    </form>
  );
}

function Row({ organization, member, onChanged }: { organization: Organization; member: Member; onChanged: () => void }) {
  const action = useAction();
  const base = `/api/v1/organizations/${organization.id}/members/${member.userId}`;
  const who = member.email ?? member.userId;
  return (
    <tr>
      <td>{member.displayName ?? '—'}</td>
      <td>{member.email ?? <code>{member.userId}</code>}</td>
      <td>
        <Select
          label={`Role of ${who}`}
          hideLabel
          value={member.role}
          options={BUILT_IN_ROLES.map((r) => [r, r])}
          onChange={(role) =>
            void action.run(async () => {
              await patch(base, { role });
              onChanged();
              return `${who} is now ${role}.`;
            })
          }
        />
        {member.roles.filter((r) => !BUILT_IN_ROLES.includes(r)).join(', ')}
      </td>
      <td>{when(member.createdAt)}</td>
      <td>
        <DangerButton
          action={action}
          confirm={`Remove ${who} from ${organization.name}?`}
          work={async () => {
            await del(base);
            onChanged();
          }}
        >
          Remove<span className="visually-hidden"> {who}</span>
        </DangerButton>
        <ActionResult action={action} />
      </td>
    </tr>
  );
}

function AddMember({ organization, onDone }: { organization: Organization; onDone: () => void }) {
  const [userId, setUserId] = useState('');
  const [role, setRole] = useState('MEMBER');
  const action = useAction();
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void action.run(async () => {
          await post(`/api/v1/organizations/${organization.id}/members`, { userId: userId.trim(), role });
          setUserId('');
          onDone();
          return 'Member added.';
        });
      }}
    >
      <Field label="User id" value={userId} onChange={setUserId} required hint="Someone who has signed in once; otherwise, invite their address." />
      <Select label="Role of the new member" value={role} options={BUILT_IN_ROLES.map((r) => [r, r])} onChange={setRole} />
      <button type="submit" disabled={action.busy}>
        Add member
      </button>
      <ActionResult action={action} />
    </form>
  );
}

export function Members({ organization }: { organization: Organization }) {
  const [search, setSearch] = useState('');
  const [role, setRole] = useState('');
  const base = `/api/v1/organizations/${organization.id}/members`;
  const pages = useCursors();
  const cursor = pages.cursor;
  const query = `${base}?limit=50${search ? `&search=${encodeURIComponent(search)}` : ''}${role ? `&role=${role}` : ''}${cursor ? `&after=${encodeURIComponent(cursor)}` : ''}`;
  const page = useLoad(() => get<Page<Member>>(query), [query]);
  const exporting = useAction();
  return (
    <>
      <Section title="Members">
        <div className="filters">
          <Field
            label="Search"
            value={search}
            onChange={(v) => {
              setSearch(v);
              pages.reset();
            }}
            hint="A prefix of the e-mail address or of any word of the name."
          />
          <Select
            label="Role"
            value={role}
            options={[['', 'Any role'], ...BUILT_IN_ROLES.map((r): [string, string] => [r, r])]}
            onChange={(v) => {
              setRole(v);
              pages.reset();
            }}
          />
          <button
            type="button"
            disabled={exporting.busy}
            onClick={() => void exporting.run(() => download(`${base}/export`, `${organization.slug}-members.csv`))}
          >
            Export CSV
          </button>
        </div>
        <ActionResult action={exporting} />
        <LoadingView loaded={page}>
          {(p) => (
            <>
              <div className="scroll">
<table>
                <caption className="visually-hidden">Members of {organization.name}</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">E-mail</th>
                    <th scope="col">Role</th>
                    <th scope="col">Joined</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {p.items.map((m) => (
                    <Row key={m.userId} organization={organization} member={m} onChanged={page.reload} />
                  ))}
                </tbody>
              </table>
</div>
              {p.items.length === 0 ? <p>No member matches.</p> : null}
              <Pager cursors={pages} next={p.nextCursor} />
            </>
          )}
        </LoadingView>
      </Section>
      <Section title="Add a member">
        <AddMember organization={organization} onDone={page.reload} />
      </Section>
      <Section title="Import members">
        <Import organization={organization} onDone={page.reload} />
      </Section>
    </>
  );
}
