-- Reporting views: what analysts and Grafana read. The reporting account may read only these and
-- the tables; it can write nothing.

CREATE OR REPLACE VIEW report_verdicts_per_label_hour AS
SELECT DATE_FORMAT(first_packet_at, '%Y-%m-%d %H:00:00') AS hour,
       label,
       COUNT(*)      AS sessions,
       SUM(packets)  AS packets,
       SUM(bytes)    AS bytes,
       AVG(score)    AS avg_score
FROM session_verdict
GROUP BY DATE_FORMAT(first_packet_at, '%Y-%m-%d %H:00:00'), label;

CREATE OR REPLACE VIEW report_verdicts_per_agent AS
SELECT agent_id,
       label,
       COUNT(*)              AS sessions,
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
       SUM(label <> 'benign')          AS malicious_sessions
FROM session_verdict
GROUP BY client_addr;

CREATE OR REPLACE VIEW report_malicious_sessions AS
SELECT id, agent_id, label, score, protocol,
       client_addr, client_port, server_addr, server_port,
       first_packet_at, last_packet_at, packets, bytes, model_version, reason, classified_at
FROM session_verdict
WHERE label <> 'benign';

CREATE OR REPLACE VIEW report_agents AS
SELECT c.agent_id, c.device, c.bpf_filter, c.enabled, c.revision AS config_revision,
       s.online, s.applied_revision, s.state, s.last_error, s.config_error,
       s.captured, s.kernel_drops, s.batches_uploaded, s.spool_dropped, s.last_seen,
       (s.applied_revision IS NOT NULL AND s.applied_revision = c.revision) AS config_applied
FROM sniffer_config c
LEFT JOIN agent_status s ON s.agent_id = c.agent_id;
