-- Packets of acknowledged batches that end in no verdict and no connection record (issue 19: "a counted drop with its
-- reason, visible in metrics and SQL"), per 5-minute bucket (of splitcap's clock, UTC), agent and reason, next to the
-- metric that counts the same packets (fleetcap_splitcap_dropped_packets_total). splitcap counts a batch's drops in
-- Redis with the batch's receipt (both or neither: a retried batch counts once) and copies those counts here; the
-- copy writes the bucket's whole count so far (GREATEST keeps the larger), so a copy repeated after a crash or a
-- MariaDB outage never counts a packet twice. The reasons are in docs/TROUBLESHOOTING.md ("Dropped packets").
CREATE TABLE IF NOT EXISTS packet_drop (
  bucket_start DATETIME         NOT NULL,
  agent_id     VARCHAR(64)      NOT NULL,
  reason       VARCHAR(64)      NOT NULL,
  packets      BIGINT UNSIGNED  NOT NULL,
  updated_at   TIMESTAMP        NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (bucket_start, agent_id, reason),
  KEY ix_agent_bucket (agent_id, bucket_start)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Drops per hour, agent and reason.
CREATE OR REPLACE VIEW report_packet_drops_per_hour AS
SELECT TIMESTAMP(DATE(bucket_start), MAKETIME(HOUR(bucket_start), 0, 0)) AS hour_start,
       agent_id, reason, SUM(packets) AS packets
  FROM packet_drop
 GROUP BY hour_start, agent_id, reason;

GRANT SELECT, INSERT, UPDATE ON packet_drop TO '{{SPLITCAP_USER}}'@'{{SPLITCAP_HOST}}';
GRANT SELECT ON packet_drop TO '{{REPORT_USER}}'@'{{REPORT_HOST}}';
GRANT SELECT, SHOW VIEW ON report_packet_drops_per_hour TO '{{REPORT_USER}}'@'{{REPORT_HOST}}';
