import { useState } from 'react';
import { get, post } from '../api';
import { ActionResult, Field, LoadingView, Section, useAction, useLoad } from '../ui';
import type { Organization, Page } from '../types';

function slugOf(name: string): string {
  return name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
}

export function MyOrganizations() {
  const [search, setSearch] = useState('');
  const [pages, setPages] = useState<string[]>([]);
  const query = (after?: string) =>
    `/api/v1/organizations/mine?limit=25${search ? `&search=${encodeURIComponent(search)}` : ''}${after ? `&after=${after}` : ''}`;
  const first = useLoad(() => get<Page<Organization>>(query()), [search]);
  const [more, setMore] = useState<Organization[]>([]);
  const [next, setNext] = useState<string | null | undefined>();
  const [name, setName] = useState('');
  const [slug, setSlug] = useState('');
  const create = useAction();
  const paging = useAction();
  const cursor = next === undefined ? first.data?.nextCursor : next;
  return (
    <>
      <h1>My organizations</h1>
      <Section title="Find">
        <Field
          label="Search by name or slug"
          value={search}
          onChange={(v) => {
            setSearch(v);
            setMore([]);
            setNext(undefined);
            setPages([]);
          }}
          hint="A prefix of the slug or of any word of the name."
        />
        <LoadingView loaded={first}>
          {(page) => (
            <>
              {page.items.length === 0 ? <p>No organization matches.</p> : null}
              <ul className="cards">
                {[...page.items, ...more].map((o) => (
                  <li key={o.id}>
                    <a href={`#/org/${o.id}`}>{o.name}</a> <code>{o.slug}</code>{' '}
                    <span className={`status status-${o.status.toLowerCase()}`}>{o.status}</span>{' '}
                    {o.role ? <span className="role">{o.role}</span> : null}
                  </li>
                ))}
              </ul>
              {cursor ? (
                <button
                  type="button"
                  disabled={paging.busy}
                  onClick={() =>
                    void paging.run(async () => {
                      const page2 = await get<Page<Organization>>(query(cursor));
                      setMore((m) => [...m, ...page2.items]);
                      setNext(page2.nextCursor ?? null);
                      setPages((p) => [...p, cursor]);
                    })
                  }
                >
                  Show more ({pages.length + 1} pages shown)
                </button>
              ) : null}
              <ActionResult action={paging} />
            </>
          )}
        </LoadingView>
      </Section>
      <Section title="Create an organization">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void create.run(async () => {
              const made = await post<Organization>('/api/v1/organizations', { name, slug: slug || slugOf(name) });
              window.location.hash = `#/org/${made.id}`;
            });
          }}
        >
          <Field label="Name" value={name} onChange={setName} required />
          <Field
            label="Slug"
            value={slug}
            onChange={setSlug}
            placeholder={slugOf(name)}
            hint="Lower-case letters, digits and hyphens; left empty, it is made from the name."
          />
          <button type="submit" disabled={create.busy}>
            Create
          </button>
          <ActionResult action={create} />
        </form>
      </Section>
    </>
  );
}
