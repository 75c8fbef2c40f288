-- Detection-backed alerts: a session that is evidence of a detection (a scan, a SYN flood, a brute force) is an alert
-- of the detection's class, even when the model did not alert it. A per-session model cannot see a brute force whose
-- every session holds one failed login (a user mistyping a password makes the same session); the detector stage
-- counts them across sessions. The model's label and score stay as they are.
--
-- alert_reason: why the row is an alert: 'model' (the model card's alert policy), 'detection' (only a detection),
--               'model+detection' (both); NULL when it is no alert.
-- alert_label:  the class it is alerted as: the detection's class when one backs it (portscan, synflood,
--               bruteforce), else the model's label.
-- detection_id: the incident (detection.incident_id) the session is evidence of.
--
-- The session-worker writes all three with the verdict when the session's subject is under an active incident at
-- verdict time (then the packets are kept in alert_packet like any alert's); the detector stage sets them on the rows
-- of an incident's evidence when the incident opens or grows (the sessions verdicted before it existed: their packets
-- were freed from Redis with their verdict, so those rows have none kept, unless the model alerted them).
--
-- Upgrade path: the defaults make every existing alert (and the rows of a worker of the earlier version, which does
-- not write these columns, while workers are replaced) a model alert of its label, which is what they are.

ALTER TABLE session_verdict
  ADD COLUMN alert_reason ENUM('model','detection','model+detection') NULL DEFAULT (IF(alert = 1, 'model', NULL)) AFTER unknown,
  ADD COLUMN alert_label  VARCHAR(64)  NULL DEFAULT (IF(alert = 1, label, NULL)) AFTER alert_reason,
  ADD COLUMN detection_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL AFTER alert_label,
  ADD KEY ix_detection (detection_id);

-- The detector stage marks the evidence rows of its incidents (by Community ID within the incident's times); it may
-- read the columns it matches on and change these four, and no other.
GRANT SELECT (id, community_id, first_packet_at, alert, alert_reason, detection_id),
      UPDATE (alert, alert_reason, alert_label, detection_id)
  ON session_verdict TO '{{DETECTOR_USER}}'@'%';

-- The alerted sessions with why each is one, the class it is alerted as and the detection behind it (label and
-- score stay the model's), with how many of their packets are kept (0 for evidence verdicted before its incident
-- existed, or once retention deleted them).
CREATE OR REPLACE VIEW report_alerts AS
SELECT v.id, v.agent_id, v.community_id, v.label, v.score, v.protocol,
       v.client_addr, v.client_port, v.server_addr, v.server_port,
       v.first_packet_at, v.last_packet_at, v.packets, v.bytes, v.model_version, v.reason, v.classified_at,
       (SELECT COUNT(*) FROM alert_packet p WHERE p.verdict_id = v.id) AS packets_kept,
       v.alert_reason, COALESCE(v.alert_label, v.label) AS alert_label, v.detection_id,
       (SELECT d.detector FROM detection d WHERE d.incident_id = v.detection_id) AS detector
FROM session_verdict v
WHERE v.alert = 1;

-- Alerts per hour by the class they are alerted as (label), and how many of them a detection made.
CREATE OR REPLACE VIEW report_alerts_per_hour AS
SELECT DATE_FORMAT(first_packet_at, '%Y-%m-%d %H:00:00') AS hour,
       COALESCE(alert_label, label) AS label,
       COUNT(*)                    AS alerts,
       COUNT(DISTINCT agent_id)    AS agents,
       COUNT(DISTINCT client_addr) AS clients,
       COUNT(DISTINCT server_addr) AS servers,
       AVG(score)                  AS avg_score,
       SUM(detection_id IS NOT NULL)  AS by_detection,
       SUM(alert_reason <> 'detection') AS by_model
FROM session_verdict
WHERE alert = 1
GROUP BY DATE_FORMAT(first_packet_at, '%Y-%m-%d %H:00:00'), COALESCE(alert_label, label);

-- By the model's label as before; alerts now include those a detection made, which detection_alerts counts.
CREATE OR REPLACE VIEW report_verdicts_per_label_hour AS
SELECT DATE_FORMAT(first_packet_at, '%Y-%m-%d %H:00:00') AS hour,
       label,
       COUNT(*)      AS sessions,
       SUM(alert)    AS alerts,
       SUM(unknown)  AS unknown,
       SUM(packets)  AS packets,
       SUM(bytes)    AS bytes,
       AVG(score)    AS avg_score,
       SUM(detection_id IS NOT NULL) AS detection_alerts
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
       MAX(last_packet_at)   AS last_seen,
       SUM(detection_id IS NOT NULL) AS detection_alerts
FROM session_verdict
GROUP BY agent_id, label;

-- Every session (as in 006) with its alert and why.
CREATE OR REPLACE VIEW report_sessions AS
SELECT id, agent_id, session_key, occurrence, community_id, label, score, protocol,
       client_addr, client_port, server_addr, server_port,
       first_packet_at, last_packet_at, packets, bytes, reason, classified_at,
       conn_state, history, originator, orig_pkts, orig_ip_bytes, resp_pkts, resp_ip_bytes, duration, completed_at,
       completed_at IS NULL AS open,
       service, http_method, http_host, http_uri, http_user_agent, http_status,
       tls_version, tls_sni, tls_alpn, ja4, dns_query, dns_qtype, dns_rcode,
       ssh_client, ssh_server, hassh, hassh_server, metadata_truncated, metadata_problems,
       alert, unknown, alert_reason, alert_label, detection_id
FROM session_verdict;
