// The portal API client: every call carries the CSRF header, and the bearer token when the page
// was opened through a magic link (app-auth mode uses the app's cookies instead).

export type Scope = 'read' | 'manage';
export type ThemeMode = 'light' | 'dark' | 'auto';
export interface Theme {
  primaryColor?: string | null;
  mode?: ThemeMode | null;
}
export interface Session {
  customerId: string;
  scope: Scope;
  expiresAt: string | null;
  theme?: Theme | null;
}
export interface EventType {
  name: string;
  description?: string | null;
  example?: unknown;
  schema?: object | null;
}
export interface Endpoint {
  id: string;
  url: string;
  description: string | null;
  eventTypes: string[] | null;
  disabled: boolean;
  disabledReason: string | null;
  secretMasked: string | null;
  createdAt: string;
  updatedAt: string | null;
  failingSince: string | null;
}
export interface Message {
  id: string;
  eventType: string;
  payload: unknown;
  createdAt: string;
  status: string | null;
}
export interface Delivery {
  id: string;
  messageId: string;
  endpointId: string;
  status: string;
  attempts: number | null;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  createdAt: string;
  updatedAt: string | null;
}
export interface Attempt {
  id: string;
  deliveryId: string;
  attemptNumber: number | null;
  trigger: string | null;
  startedAt: string | null;
  durationMs: number | null;
  requestHeaders: Record<string, string> | null;
  requestBody: string | null;
  responseStatus: number | null;
  responseHeaders: Record<string, string> | null;
  responseBody: string | null;
  errorClass: string | null;
  error: string | null;
}
export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}
export interface Stats {
  window: string;
  from: string;
  to: string;
  buckets: Array<{ start: string; succeeded: number; failed: number }>;
  total: number;
  succeeded: number;
  failed: number;
  successRate: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
}

/** An API answer that was not 2xx, carrying the problem+json fields when the server sent them. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string | null,
    readonly code: string | null,
  ) {
    super(detail ? `${title}: ${detail}` : title);
  }
}

export class PortalApi {
  constructor(
    private readonly base: string,
    private readonly token: string | null,
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { 'X-Webhooks-Portal': '1', Accept: 'application/json' };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    const json = text ? safeJson(text) : null;
    if (!res.ok) {
      const p = (json ?? {}) as { title?: string; detail?: string; message?: string | string[]; code?: string };
      const detail = p.detail ?? (Array.isArray(p.message) ? p.message.join('; ') : (p.message ?? null));
      throw new ApiError(res.status, p.title ?? res.statusText ?? `HTTP ${res.status}`, detail, p.code ?? null);
    }
    return json as T;
  }

  session = () => this.request<Session>('GET', '/session');
  eventTypes = () => this.request<{ data: EventType[] }>('GET', '/event-types');
  endpoints = (cursor?: string | null) =>
    this.request<Page<Endpoint>>('GET', `/endpoints${query({ cursor, limit: 50 })}`);
  createEndpoint = (body: EndpointInput) => this.request<Endpoint>('POST', '/endpoints', body);
  endpoint = (id: string) => this.request<Endpoint>('GET', `/endpoints/${enc(id)}`);
  updateEndpoint = (id: string, body: Partial<EndpointInput>) =>
    this.request<Endpoint>('PATCH', `/endpoints/${enc(id)}`, body);
  deleteEndpoint = (id: string) => this.request<void>('DELETE', `/endpoints/${enc(id)}`);
  revealSecret = (id: string) => this.request<{ secret: string }>('POST', `/endpoints/${enc(id)}/secret/reveal`);
  rotateSecret = (id: string, graceMs?: number) =>
    this.request<{ secret: string }>(
      'POST',
      `/endpoints/${enc(id)}/secret/rotate`,
      graceMs === undefined ? {} : { graceMs },
    );
  sendTest = (id: string, eventType: string, payload?: unknown) =>
    this.request<{ messageId: string; deliveryIds: string[] }>('POST', `/endpoints/${enc(id)}/test`, {
      eventType,
      ...(payload === undefined ? {} : { payload }),
    });
  recover = (id: string, since: string) =>
    this.request<{ deliveryIds: string[] }>('POST', `/endpoints/${enc(id)}/recover`, { since });
  replayMissing = (id: string, since: string) =>
    this.request<{ deliveryIds: string[] }>('POST', `/endpoints/${enc(id)}/replay-missing`, { since });
  stats = (id: string, window: '24h' | '7d') =>
    this.request<Stats>('GET', `/endpoints/${enc(id)}/stats${query({ window })}`);
  messages = (filters: MessageFilters, cursor?: string | null) =>
    this.request<Page<Message>>('GET', `/messages${query({ ...filters, cursor, limit: 25 })}`);
  message = (id: string) => this.request<{ message: Message; deliveries: Delivery[] }>('GET', `/messages/${enc(id)}`);
  delivery = (id: string) => this.request<{ delivery: Delivery; attempts: Attempt[] }>('GET', `/deliveries/${enc(id)}`);
  replay = (id: string) => this.request<Delivery>('POST', `/deliveries/${enc(id)}/replay`);
}

export interface EndpointInput {
  url: string;
  description?: string;
  eventTypes?: string[] | null;
  disabled?: boolean;
}
export interface MessageFilters {
  eventType?: string;
  status?: string;
  since?: string;
  until?: string;
  endpointId?: string;
}

const enc = encodeURIComponent;

function query(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
