-- Alerts, not argmax; and the packets of every alert, kept for a retention period set here.
--
-- alert:   the model card's alert policy on the verdict (per-class thresholds and the unknown floor; forecast decides
--          it, lib/src/features/alert-policy.ts). An analyst counts alerts, not labels: a label other than benign
--          under its class's threshold is not an alert.
-- unknown: the top probability was under the policy's floor: a session unlike what the model knows (never an alert).
--
-- Upgrade path: the default of `alert` is the argmax rule (label <> 'benign'), which fills every existing row as the
-- verdicts were read until now (a card without an alertPolicy gets that rule too), and gives the rows of a worker of
-- the earlier version, which does not write the column, the same meaning while workers are being replaced.

ALTER TABLE session_verdict
  ADD COLUMN alert   TINYINT(1) NOT NULL DEFAULT (label <> 'benign') AFTER score,
  ADD COLUMN unknown TINYINT(1) NOT NULL DEFAULT 0 AFTER alert,
  ADD KEY ix_alert_time (alert, first_packet_at);

-- The packets of an alerted session, as splitcap stored them (at most FLEETCAP_SESSION_MAX_PACKETS, each frame as
-- uploaded, possibly cut to FLEETCAP_STORED_FRAME_BYTES), written by the session-worker in the transaction of the
-- verdict row and keyed by it: a redelivered message finds the row and its packets committed together, and
-- INSERT IGNORE on the key makes a repeat a no-op. `fleetcap pcap` writes them as a capture file.
CREATE TABLE IF NOT EXISTS alert_packet (
  verdict_id    BIGINT UNSIGNED   NOT NULL,
  packet_index  SMALLINT UNSIGNED NOT NULL,
  ts_us         BIGINT UNSIGNED   NOT NULL,
  wire_length   INT UNSIGNED      NOT NULL,
  linktype      SMALLINT UNSIGNED NOT NULL,
  frame         MEDIUMBLOB        NOT NULL,
  stored_at     DATETIME(6)       NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (verdict_id, packet_index),
  KEY ix_stored (stored_at),
  CONSTRAINT fk_alert_packet_verdict FOREIGN KEY (verdict_id) REFERENCES session_verdict (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- How long kept data lives, one row per kind of data, edited by operators with plain SQL:
--   UPDATE retention_policy SET retention_days = 7 WHERE data = 'alert_packet';
-- The session-workers apply it (apps/session-worker/src/retention.ts): every
-- FLEETCAP_RETENTION_INTERVAL_MS one of them deletes what was stored longer ago than retention_days.
CREATE TABLE IF NOT EXISTS retention_policy (
  data            VARCHAR(64)  NOT NULL,
  retention_days  INT UNSIGNED NOT NULL,
  updated_at      TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (data),
  CONSTRAINT ck_retention_days CHECK (retention_days BETWEEN 1 AND 36500)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT IGNORE INTO retention_policy (data, retention_days) VALUES ('alert_packet', 30);

-- The views count alerts. Same columns as before plus alerts (and unknown); report_top_talkers' malicious_sessions
-- becomes alerts.
CREATE OR REPLACE VIEW report_verdicts_per_label_hour AS
SELECT DATE_FORMAT(first_packet_at, '%Y-%m-%d %H:00:00') AS hour,
       label,
       COUNT(*)      AS sessions,
       SUM(alert)    AS alerts,
       SUM(unknown)  AS unknown,
       SUM(packets)  AS packets,
       SUM(bytes)    AS bytes,
       AVG(score)    AS avg_score
FROM session_verdict
GROUP BY DATE_FORMAT(first_packet_at, '%Y-%m-%d %H:00:00'), label;

CREATE OR REPLACE VIEW report_verdicts_per_agent AS
SELECT agent_id,
       label,
       COUNT(*)              AS sessions,
       SUM(alert)            AS alerts,
       SUM(packets)          AS packets,
       SUM(bytes)            AS bytes,
       MIN(first_packet_at)  AS first_seen,
       MAX(last_packet_at)   AS last_seen
FROM session_verdict
GROUP BY agent_id, label;

CREATE OR REPLACE VIEW report_top_talkers AS
SELECT client_addr,
       COUNT(*)                        AS sessions,
       SUM(bytes)                      AS bytes,
       SUM(packets)                    AS packets,
       COUNT(DISTINCT server_addr)     AS distinct_servers,
       COUNT(DISTINCT server_port)     AS distinct_server_ports,
       SUM(alert)                      AS alerts
FROM session_verdict
GROUP BY client_addr;

-- The alerted sessions, with how many of their packets are kept (0 once retention deleted them; `fleetcap pcap <id>`
-- writes them).
CREATE OR REPLACE VIEW report_alerts AS
SELECT v.id, v.agent_id, v.community_id, v.label, v.score, v.protocol,
       v.client_addr, v.client_port, v.server_addr, v.server_port,
       v.first_packet_at, v.last_packet_at, v.packets, v.bytes, v.model_version, v.reason, v.classified_at,
       (SELECT COUNT(*) FROM alert_packet p WHERE p.verdict_id = v.id) AS packets_kept
FROM session_verdict v
WHERE v.alert = 1;

-- The former name lists the alerts too (it listed every non-benign label), with its former columns.
CREATE OR REPLACE VIEW report_malicious_sessions AS
SELECT id, agent_id, community_id, label, score, protocol,
       client_addr, client_port, server_addr, server_port,
       first_packet_at, last_packet_at, packets, bytes, model_version, reason, classified_at
FROM session_verdict
WHERE alert = 1;

-- Alerts per hour, by label (an hour with sessions but no alert of a label has no row for it).
CREATE OR REPLACE VIEW report_alerts_per_hour AS
SELECT DATE_FORMAT(first_packet_at, '%Y-%m-%d %H:00:00') AS hour,
       label,
       COUNT(*)                    AS alerts,
       COUNT(DISTINCT agent_id)    AS agents,
       COUNT(DISTINCT client_addr) AS clients,
       COUNT(DISTINCT server_addr) AS servers,
       AVG(score)                  AS avg_score
FROM session_verdict
WHERE alert = 1
GROUP BY DATE_FORMAT(first_packet_at, '%Y-%m-%d %H:00:00'), label;

-- session-worker: writes the packets of alerts and applies their retention (DELETE only on alert_packet; the verdict
-- rows are never deleted by it).
GRANT SELECT, INSERT, DELETE ON alert_packet TO '{{WORKER_USER}}'@'%';
GRANT SELECT ON retention_policy TO '{{WORKER_USER}}'@'%';

-- Reporting (and `fleetcap pcap`): reads the packets, the retention and the new views.
GRANT SELECT ON alert_packet TO '{{REPORT_USER}}'@'%';
GRANT SELECT ON retention_policy TO '{{REPORT_USER}}'@'%';
GRANT SELECT, SHOW VIEW ON report_alerts TO '{{REPORT_USER}}'@'%';
GRANT SELECT, SHOW VIEW ON report_alerts_per_hour TO '{{REPORT_USER}}'@'%';
