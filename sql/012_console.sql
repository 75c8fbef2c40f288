-- The web console (apps/console): its sign-in accounts, its database account, and the indexes its pages need.
--
-- console_user: people who sign in to the console. Passwords are stored as argon2id hashes (PHC strings, salt and
-- parameters inside), never in clear; an account is made by `fleetcap console-user add <name> --role viewer|admin`
-- (there is no default account and no default password). role: viewer reads every page; admin may also enrol and
-- revoke agents. disabled_at: set to refuse further sign-ins (`fleetcap console-user disable <name>`).
CREATE TABLE IF NOT EXISTS console_user (
  id               INT UNSIGNED  NOT NULL AUTO_INCREMENT,
  name             VARCHAR(64)   NOT NULL,
  role             ENUM('viewer','admin') NOT NULL,
  password_hash    VARCHAR(255)  NOT NULL,
  created_at       TIMESTAMP(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  disabled_at      TIMESTAMP(3)  NULL DEFAULT NULL,
  last_sign_in_at  TIMESTAMP(3)  NULL DEFAULT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_console_user_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The console reads every page through the reporting account (read-only, sql/003); its own account reads the sign-in
-- rows and writes only what an admin's actions need: the sign-in time, and new or revoked agent credentials (the
-- same statements as `fleetcap agents add|revoke`, lib/src/auth/agent-enrolment.ts). It can read no verifier.
CREATE USER IF NOT EXISTS '{{CONSOLE_USER}}'@'%' IDENTIFIED BY '{{CONSOLE_PASSWORD}}';
GRANT SELECT (id, name, role, password_hash, disabled_at) ON console_user TO '{{CONSOLE_USER}}'@'%';
GRANT UPDATE (last_sign_in_at) ON console_user TO '{{CONSOLE_USER}}'@'%';
GRANT SELECT (id, agent_id, note, created_at, not_after, revoked_at) ON agent_credential TO '{{CONSOLE_USER}}'@'%';
GRANT INSERT (agent_id, token_sha256, zk_digest, note) ON agent_credential TO '{{CONSOLE_USER}}'@'%';
GRANT UPDATE (not_after, revoked_at) ON agent_credential TO '{{CONSOLE_USER}}'@'%';

-- The alerts page: alerts newest first, narrowed by label, agent, source or target, their count and the chart's counts
-- per label over the time range. Each filter gets an index that starts with alert and the filtered column, then the
-- time and the label: the page's 50 newest rows are read in index order (the page orders by time, label, id, which
-- is the order of every one of these indexes), and the count and the chart are read from the index alone, with no
-- row lookup. The console names the index of the filter it applies (FORCE INDEX), since the optimizer, seeing the
-- two values of `alert`, otherwise scans every alert of every time.
ALTER TABLE session_verdict
  ADD KEY ix_alert_label_time (alert, label, first_packet_at),
  ADD KEY ix_alert_agent_time (alert, agent_id, first_packet_at, label),
  ADD KEY ix_alert_client_time (alert, client_addr, first_packet_at, label),
  ADD KEY ix_alert_server_time (alert, server_addr, first_packet_at, label),
  ADD KEY ix_alert_time_label (alert, first_packet_at, label);
