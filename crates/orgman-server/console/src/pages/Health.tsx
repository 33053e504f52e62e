import { get } from '../api';
import { LoadingView, Section, useLoad, when } from '../ui';
import type { Component } from '../types';

export function Health() {
  const components = useLoad(() => get<Component[]>('/api/v1/platform/components'), []);
  return (
    <>
      <h1>Platform health</h1>
      <Section title="Components">
        <button type="button" onClick={components.reload}>
          Check again
        </button>
        <LoadingView loaded={components}>
          {(items) =>
            items.length === 0 ? (
              <p>No platform components are watched (ORGMAN_PLATFORM_COMPONENTS is empty).</p>
            ) : (
              <div className="scroll">
<table>
                <thead>
                  <tr>
                    <th scope="col">Component</th>
                    <th scope="col">Status</th>
                    <th scope="col">Version</th>
                    <th scope="col">Last check</th>
                    <th scope="col">Detail</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((c) => (
                    <tr key={c.name}>
                      <td>{c.name}</td>
                      <td>
                        <span className={`status status-${c.status.toLowerCase()}`}>{c.status}</span>
                      </td>
                      <td>{c.version ?? '—'}</td>
                      <td>{when(c.lastCheck)}</td>
                      <td>{c.detail ?? ''}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
</div>
            )
          }
        </LoadingView>
      </Section>
    </>
  );
}
