import { useState } from 'react';
import { del, get, post } from '../api';
import { ActionResult, CopyButton, DangerButton, Field, LoadingView, Pager, Section, Select, useAction, useCursors, useLoad, when } from '../ui';
import { BUILT_IN_ROLES, type Invitation, type Organization, type Page } from '../types';

/** The link to hand over: the configured accept page, or the bare token. */
function linkOf(invitation: Invitation): string {
  if (invitation.acceptUrl) return invitation.acceptUrl;
  return invitation.token ?? '';
}

function Issued({ invitation }: { invitation: Invitation }) {
  const link = linkOf(invitation);
  return (
    <div className="issued" role="status">
      <p>
        Invitation for <strong>{invitation.email}</strong> created. Copy the {invitation.acceptUrl ? 'link' : 'token'} now:
        it is shown only once.
      </p>
      <p>
        <code className="secret" data-testid="invitation-link">
          {link}
        </code>{' '}
        <CopyButton text={link} label={invitation.acceptUrl ? 'Copy link' : 'Copy token'} />
      </p>
    </div>
  );
}

function Row({ invitation, base, onChanged }: { invitation: Invitation; base: string; onChanged: () => void }) {
  const action = useAction();
  const [issued, setIssued] = useState<Invitation | null>(null);
  const pending = invitation.status === 'PENDING';
  return (
    <tr>
      <td>{invitation.email}</td>
      <td>{invitation.role}</td>
      <td>{invitation.status}</td>
      <td>{when(invitation.expiresAt)}</td>
      <td>
        {pending ? (
          <>
            <button
              type="button"
              disabled={action.busy}
              onClick={() =>
                void action.run(async () => {
                  setIssued(await post<Invitation>(`${base}/${invitation.id}/resend`));
                  onChanged();
                })
              }
            >
              Resend<span className="visually-hidden"> to {invitation.email}</span>
            </button>
            <DangerButton
              action={action}
              confirm={`Revoke the invitation of ${invitation.email}?`}
              work={async () => {
                await del(`${base}/${invitation.id}`);
                onChanged();
              }}
            >
              Revoke<span className="visually-hidden"> the invitation of {invitation.email}</span>
            </DangerButton>
          </>
        ) : null}
        {issued ? <Issued invitation={issued} /> : null}
        <ActionResult action={action} />
      </td>
    </tr>
  );
}

export function Invitations({ organization }: { organization: Organization }) {
  const base = `/api/v1/organizations/${organization.id}/invitations`;
  const pages = useCursors();
  const after = pages.cursor;
  const page = useLoad(() => get<Page<Invitation>>(`${base}?limit=50${after ? `&after=${after}` : ''}`), [after]);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('MEMBER');
  const [issued, setIssued] = useState<Invitation | null>(null);
  const create = useAction();
  return (
    <>
      <Section title="Invite someone">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void create.run(async () => {
              setIssued(await post<Invitation>(base, { email, role }));
              setEmail('');
              page.reload();
            });
          }}
        >
          <Field label="E-mail address" type="email" value={email} onChange={setEmail} required autoComplete="email" />
          <Select label="Role" value={role} options={BUILT_IN_ROLES.map((r) => [r, r])} onChange={setRole} />
          <button type="submit" disabled={create.busy}>
            Invite
          </button>
          <ActionResult action={create} />
        </form>
        {issued ? <Issued invitation={issued} /> : null}
      </Section>
      <Section title="Invitations">
        <LoadingView loaded={page}>
          {(p) => (
            <>
              <div className="scroll">
<table>
                <thead>
                  <tr>
                    <th scope="col">E-mail</th>
                    <th scope="col">Role</th>
                    <th scope="col">State</th>
                    <th scope="col">Expires</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {p.items.map((i) => (
                    <Row key={i.id} invitation={i} base={base} onChanged={page.reload} />
                  ))}
                </tbody>
              </table>
</div>
              {p.items.length === 0 ? <p>No invitations yet.</p> : null}
              <Pager cursors={pages} next={p.nextCursor} />
            </>
          )}
        </LoadingView>
      </Section>
    </>
  );
}
