-- One session per vantage point, and the Community ID of each.
-- A session is one agent's view of a conversation: when both ends of a conversation run an agent, each agent's
-- packets make a session of their own, so a verdict row is unique per agent, session key and occurrence. The
-- community_id (Community ID v1, with splitcap's FLEETCAP_COMMUNITY_ID_SEED) names the conversation across agents
-- and across tools (Zeek, Suricata, Arkime); rows classified before this migration have none (NULL).
-- The former unique key (session_key, occurrence) is dropped: it would refuse the second agent's row.

ALTER TABLE session_verdict
  ADD COLUMN community_id VARCHAR(64) NULL AFTER agent_id,
  DROP INDEX uq_session_occurrence,
  ADD UNIQUE KEY uq_agent_session_occurrence (agent_id, session_key, occurrence),
  ADD KEY ix_community_time (community_id, first_packet_at);

-- The view that lists sessions, with their Community ID (same columns as in 002, community_id after agent_id).
CREATE OR REPLACE VIEW report_malicious_sessions AS
SELECT id, agent_id, community_id, label, score, protocol,
       client_addr, client_port, server_addr, server_port,
       first_packet_at, last_packet_at, packets, bytes, model_version, reason, classified_at
FROM session_verdict
WHERE label <> 'benign';

-- Conversations seen by several agents: sessions of different agents with the same Community ID whose times
-- overlap, allowing 2 s for the agents' clocks (the agents stamp packets with their own clocks). One row per
-- conversation, named by its earliest session (`first_verdict_id`, whose first packet is the conversation's
-- first_packet_at: a condition on it reaches the table's indexes); `agents` and `labels` list what each vantage
-- point saw and concluded (`labels_agree` = 1 when every session got the same label).
CREATE OR REPLACE VIEW report_conversations_multi_agent AS
SELECT v.id                                                          AS first_verdict_id,
       v.community_id,
       v.protocol,
       v.client_addr, v.client_port, v.server_addr, v.server_port,
       COUNT(DISTINCT o.agent_id)                                    AS agent_count,
       GROUP_CONCAT(DISTINCT o.agent_id ORDER BY o.agent_id SEPARATOR ',') AS agents,
       COUNT(*)                                                      AS sessions,
       GROUP_CONCAT(DISTINCT o.label ORDER BY o.label SEPARATOR ',') AS labels,
       COUNT(DISTINCT o.label) = 1                                   AS labels_agree,
       MAX(o.score)                                                  AS max_score,
       v.first_packet_at                                             AS first_packet_at,
       MAX(o.last_packet_at)                                         AS last_packet_at,
       GROUP_CONCAT(o.id ORDER BY o.id SEPARATOR ',')                AS verdict_ids
FROM session_verdict v
JOIN session_verdict o
  ON o.community_id = v.community_id
 AND o.first_packet_at <= v.last_packet_at + INTERVAL 2 SECOND
 AND v.first_packet_at <= o.last_packet_at + INTERVAL 2 SECOND
WHERE v.community_id IS NOT NULL
  AND NOT EXISTS (
    SELECT 1 FROM session_verdict e
    WHERE e.community_id = v.community_id
      AND e.first_packet_at <= v.last_packet_at + INTERVAL 2 SECOND
      AND v.first_packet_at <= e.last_packet_at + INTERVAL 2 SECOND
      AND (e.first_packet_at < v.first_packet_at OR (e.first_packet_at = v.first_packet_at AND e.id < v.id))
  )
GROUP BY v.id, v.community_id, v.protocol, v.client_addr, v.client_port, v.server_addr, v.server_port,
         v.first_packet_at
HAVING COUNT(DISTINCT o.agent_id) > 1;

GRANT SELECT, SHOW VIEW ON report_conversations_multi_agent TO '{{REPORT_USER}}'@'%';
