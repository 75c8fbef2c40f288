-- Agent enrollment and revocation by SQL (`fleetcap agents add|rotate|revoke|list`, or plain SQL).
-- One row per secret handed to an agent; an agent has one valid row, or two during a rotation (the new secret and
-- the old one until its not_after). Only verifiers are stored, never the secret (lib/src/auth/agent-credential.ts):
--   token_sha256  sha256 hex of the upload token derived from the secret (splitcap compares it);
--   zk_digest     the ZooKeeper digest id `agent.<id>:base64(sha1(user:password))` of the password derived from it
--                 (config-sync puts it in the ACLs of the agent's nodes).
-- A row is valid while revoked_at is NULL and not_after is NULL or in the future. splitcap and config-sync poll
-- COUNT and MAX(changed_at) every second and reload the rows when either moves; changed_at moves on every UPDATE.
CREATE TABLE IF NOT EXISTS agent_credential (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  agent_id      VARCHAR(64)     NOT NULL,
  token_sha256  CHAR(64)        NOT NULL,
  zk_digest     VARCHAR(160)    NOT NULL,
  note          VARCHAR(255)    NOT NULL DEFAULT '',
  created_at    TIMESTAMP(3)    NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  not_after     TIMESTAMP(3)    NULL DEFAULT NULL,
  revoked_at    TIMESTAMP(3)    NULL DEFAULT NULL,
  changed_at    TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_token_sha256 (token_sha256),
  KEY ix_agent (agent_id),
  KEY ix_changed (changed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- splitcap: reads the upload-token verifiers, nothing else (column grants: it cannot read zk_digest).
CREATE USER IF NOT EXISTS '{{SPLITCAP_USER}}'@'%' IDENTIFIED BY '{{SPLITCAP_PASSWORD}}';
GRANT SELECT (agent_id, token_sha256, not_after, revoked_at, changed_at) ON agent_credential TO '{{SPLITCAP_USER}}'@'%';

-- config-sync: reads the ZooKeeper digests to set the ACLs of each agent's nodes.
GRANT SELECT (agent_id, zk_digest, not_after, revoked_at, changed_at) ON agent_credential TO '{{CONFIGSYNC_USER}}'@'%';

-- The report account sees who is enrolled and when, not the verifiers.
GRANT SELECT (id, agent_id, note, created_at, not_after, revoked_at) ON agent_credential TO '{{REPORT_USER}}'@'%';
