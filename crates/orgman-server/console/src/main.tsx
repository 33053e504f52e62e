import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { completeLogin, loadConfig, userManager } from './auth';
import './styles.css';

async function start(): Promise<void> {
  const root = createRoot(document.getElementById('root')!);
  try {
    const config = await loadConfig();
    const manager = userManager(config);
    const user = (await completeLogin(manager)) ?? (await manager.getUser());
    root.render(
      <StrictMode>
        <App manager={manager} initialUser={user} />
      </StrictMode>,
    );
  } catch (error) {
    root.render(
      <main className="signin">
        <h1>orgman console</h1>
        <p role="alert">The console could not start: {error instanceof Error ? error.message : String(error)}</p>
        <p>
          <a href="/console/">Try again</a>
        </p>
      </main>,
    );
  }
}

void start();
