import { useState } from 'react';
import { del, get, patch, post } from '../api';
import { ActionResult, Check, CopyButton, DangerButton, Field, LoadingView, Section, useAction, useLoad, when } from '../ui';
import type { Domain, Organization } from '../types';

function DomainCard({ domain, base, onChanged }: { domain: Domain; base: string; onChanged: () => void }) {
  const action = useAction();
  const [notYet, setNotYet] = useState(false);
  const path = `${base}/${encodeURIComponent(domain.domain)}`;
  return (
    <li className="card">
      <h3>
        {domain.domain}{' '}
        <span className={domain.verified ? 'status status-active' : 'status status-pending'}>
          {domain.verified ? 'Verified' : 'Not verified'}
        </span>
      </h3>
      {domain.verified ? (
        <p>Verified {when(domain.verifiedAt)}.</p>
      ) : (
        <>
          <p>Publish this DNS record, then verify:</p>
          <dl className="facts">
            <dt>Type</dt>
            <dd>{domain.record.type}</dd>
            <dt>Name</dt>
            <dd>
              <code>{domain.record.name}</code> <CopyButton text={domain.record.name} label="Copy name" />
            </dd>
            <dt>Value</dt>
            <dd>
              <code data-testid="txt-value">{domain.record.value}</code>{' '}
              <CopyButton text={domain.record.value} label="Copy value" />
            </dd>
          </dl>
          <button
            type="button"
            disabled={action.busy}
            onClick={() => {
              setNotYet(false);
              void action
                .run(async () => {
                  await post(`${path}/verify`);
                  onChanged();
                  return `${domain.domain} is verified.`;
                })
                .then((ok) => setNotYet(!ok));
            }}
          >
            Verify<span className="visually-hidden"> {domain.domain}</span>
          </button>
          {notYet && action.problem?.code === 'domain-not-verified' ? (
            <p className="not-yet" role="status">
              Not yet: the TXT record was not found with the expected value. DNS changes can take a while to show;
              try again later.
            </p>
          ) : null}
        </>
      )}
      <fieldset disabled={!domain.verified || action.busy}>
        <legend>Policies{domain.verified ? '' : ' (once verified)'}</legend>
        <Check
          label="Join automatically: people signing in with an address of this domain become members"
          checked={domain.autoJoin}
          onChange={(autoJoin) =>
            void action.run(async () => {
              await patch(path, { autoJoin });
              onChanged();
            })
          }
        />
        <Check
          label="SSO required: people of this domain must sign in through the organization's identity provider"
          checked={domain.ssoRequired}
          onChange={(ssoRequired) =>
            void action.run(async () => {
              await patch(path, { ssoRequired });
              onChanged();
            })
          }
        />
      </fieldset>
      <DangerButton
        action={action}
        confirm={`Remove ${domain.domain}?`}
        work={async () => {
          await del(path);
          onChanged();
        }}
      >
        Remove<span className="visually-hidden"> {domain.domain}</span>
      </DangerButton>
      {action.problem?.code === 'domain-not-verified' ? null : <ActionResult action={action} />}
    </li>
  );
}

export function Domains({ organization }: { organization: Organization }) {
  const base = `/api/v1/organizations/${organization.id}/domains`;
  const domains = useLoad(() => get<Domain[]>(base), [base]);
  const [name, setName] = useState('');
  const claim = useAction();
  return (
    <>
      <Section title="Claim a domain">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void claim.run(async () => {
              await post(base, { domain: name });
              setName('');
              domains.reload();
            });
          }}
        >
          <Field label="Domain" value={name} onChange={setName} required placeholder="example.com" />
          <button type="submit" disabled={claim.busy}>
            Claim
          </button>
          <ActionResult action={claim} />
        </form>
      </Section>
      <Section title="Domains">
        <LoadingView loaded={domains}>
          {(items) => {
            return items.length === 0 ? (
              <p>No domains claimed yet.</p>
            ) : (
              <ul className="cards">
                {items.map((x) => (
                  <DomainCard key={x.domain} domain={x} base={base} onChanged={domains.reload} />
                ))}
              </ul>
            );
          }}
        </LoadingView>
      </Section>
    </>
  );
}
