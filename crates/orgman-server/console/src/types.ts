// The shapes the API answers (see crates/orgman-server/openapi.json).

export interface Page<T> {
  items: T[];
  nextCursor?: string | null;
}

export interface Organization {
  id: string;
  name: string;
  slug: string;
  status: string;
  metadata: Record<string, unknown>;
  privateMetadata?: Record<string, unknown> | null;
  maxMembers?: number | null;
  purgeAfter?: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
  role?: string | null;
}

export interface Me {
  id: string;
  subject: string;
  systemRole: string;
  email?: string | null;
  displayName?: string | null;
}

export interface Member {
  userId: string;
  role: string;
  roles: string[];
  email?: string | null;
  displayName?: string | null;
  createdAt: string;
}

export interface Invitation {
  id: string;
  email: string;
  role: string;
  status: string;
  createdAt: string;
  expiresAt: string;
  token?: string;
  acceptUrl?: string | null;
}

export interface Domain {
  domain: string;
  verified: boolean;
  verifiedAt?: string | null;
  record: { name: string; type: string; value: string };
  autoJoin: boolean;
  ssoRequired: boolean;
}

export interface SsoConfig {
  id: string;
  name: string;
  protocol: 'oidc' | 'saml';
  enabled: boolean;
  autoProvision: boolean;
  issuerUrl?: string | null;
  clientId?: string | null;
  metadataUrl?: string | null;
}

export interface ConnectionTest {
  reachable: boolean;
  detail: string;
  issuer?: string | null;
  steps: { name: string; ok: boolean; detail: string }[];
}

export interface AuditEvent {
  id: string;
  occurredAt: string;
  type: string;
  actor?: string | null;
  actorKind: string;
  requestId?: string | null;
  data: Record<string, unknown>;
}

export interface ImportReport {
  added: number;
  unchanged: number;
  failed: number;
  rows: { line: number; code: string; detail: string; userId?: string | null }[];
  rowsTruncated: boolean;
}

export interface Role {
  key: string;
  name: string;
  description: string;
  permissions: string[];
  scope?: string;
}

export interface Permission {
  name: string;
  description?: string;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  permissions: string[];
  createdAt: string;
  expiresAt?: string | null;
  lastUsedAt?: string | null;
  revokedAt?: string | null;
  secret?: string;
}

export interface Webhook {
  id: string;
  url: string;
  eventTypes: string[];
  enabled: boolean;
  disabledReason?: string | null;
  secret?: string;
}

export interface Delivery {
  id: string;
  eventId: string;
  eventType: string;
  state: string;
  attempts: number;
  createdAt: string;
  nextAttemptAt?: string | null;
}

export interface Component {
  name: string;
  status: string;
  detail?: string | null;
  version?: string | null;
  lastCheck?: string | null;
}

export const BUILT_IN_ROLES = ['OWNER', 'ADMIN', 'MEMBER'];
