// The public REST API, as any integrator calls it, and its problem answers
// turned into messages a person understands.

export interface FieldError {
  field: string;
  message: string;
}

/** An `application/problem+json` answer, or a failure to reach orgman. */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly errors: FieldError[] = [],
    readonly organizations: string[] = [],
  ) {
    super(detail);
  }

  /** A sentence for the person in front of the page. */
  headline(): string {
    switch (this.status) {
      case 0:
        return 'orgman cannot be reached. Check your connection and try again.';
      case 400:
        return 'The request was not understood.';
      case 401:
        return 'Your session has ended. Sign in again.';
      case 403:
        return 'You are not allowed to do this.';
      case 404:
        return 'Not found: it may have been deleted, or you are not a member.';
      case 409:
        return 'This conflicts with the current state.';
      case 412:
        return 'Someone changed this while you were editing it.';
      case 413:
        return 'That is too large.';
      case 422:
        return 'Some values need attention.';
      case 429:
        return 'Too many requests. Wait a moment and try again.';
      case 503:
        return 'A service orgman depends on is unavailable. Try again shortly.';
      default:
        return 'Something went wrong.';
    }
  }
}

export type TokenSource = () => string | undefined;

let tokenSource: TokenSource = () => undefined;

export function useTokens(source: TokenSource): void {
  tokenSource = source;
}

export interface Answer<T> {
  data: T;
  etag: string | null;
}

export interface CallOptions {
  body?: unknown;
  ifMatch?: string | null;
}

async function problemOf(response: Response): Promise<ApiProblem> {
  let body: Record<string, unknown> = {};
  try {
    body = (await response.json()) as Record<string, unknown>;
  } catch {
    // Not a problem document (a proxy's page, say): the status speaks.
  }
  return new ApiProblem(
    response.status,
    typeof body.code === 'string' ? body.code : `http-${response.status}`,
    typeof body.detail === 'string' ? body.detail : response.statusText,
    Array.isArray(body.errors) ? (body.errors as FieldError[]) : [],
    Array.isArray(body.organizations) ? (body.organizations as string[]) : [],
  );
}

function headers(options: CallOptions): Headers {
  const result = new Headers({ Accept: 'application/json' });
  const token = tokenSource();
  if (token) result.set('Authorization', `Bearer ${token}`);
  if (options.body !== undefined) result.set('Content-Type', 'application/json');
  if (options.ifMatch) result.set('If-Match', options.ifMatch);
  return result;
}

export async function call<T>(method: string, path: string, options: CallOptions = {}): Promise<Answer<T>> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: headers(options),
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch {
    throw new ApiProblem(0, 'unreachable', 'The request did not reach orgman.');
  }
  if (!response.ok) throw await problemOf(response);
  const text = await response.text();
  return { data: (text ? JSON.parse(text) : undefined) as T, etag: response.headers.get('ETag') };
}

export const get = async <T>(path: string): Promise<T> => (await call<T>('GET', path)).data;
export const post = async <T>(path: string, body?: unknown): Promise<T> => (await call<T>('POST', path, { body })).data;
export const patch = async <T>(path: string, body: unknown): Promise<T> => (await call<T>('PATCH', path, { body })).data;
export const put = async <T>(path: string, body: unknown): Promise<T> => (await call<T>('PUT', path, { body })).data;
export const del = async (path: string): Promise<void> => {
  await call<unknown>('DELETE', path);
};

/** Downloads a file the API answers (the members' CSV) under `name`. */
export async function download(path: string, name: string): Promise<void> {
  const response = await fetch(path, { headers: headers({}) }).catch(() => {
    throw new ApiProblem(0, 'unreachable', 'The request did not reach orgman.');
  });
  if (!response.ok) throw await problemOf(response);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  URL.revokeObjectURL(url);
}

/**
 * Uploads a form with progress (fetch cannot report an upload's progress):
 * `onProgress` gets the share sent, then the API answers at the end.
 */
export function upload<T>(path: string, form: FormData, onProgress: (share: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', path);
    request.setRequestHeader('Accept', 'application/json');
    const token = tokenSource();
    if (token) request.setRequestHeader('Authorization', `Bearer ${token}`);
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    request.onerror = () => reject(new ApiProblem(0, 'unreachable', 'The upload did not reach orgman.'));
    request.onload = () => {
      const body = request.responseText ? JSON.parse(request.responseText) : {};
      if (request.status >= 200 && request.status < 300) {
        resolve(body as T);
      } else {
        reject(
          new ApiProblem(
            request.status,
            body.code ?? `http-${request.status}`,
            body.detail ?? request.statusText,
            body.errors ?? [],
          ),
        );
      }
    };
    request.send(form);
  });
}
