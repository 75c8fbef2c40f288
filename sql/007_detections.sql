-- Detections across sessions and agents (apps/detector, `fleetcap detections`): one row per incident (a scan, a
-- flood, a brute force, a beacon), updated while it grows; and each detector's thresholds, which the detector
-- stage reads again every FLEETCAP_DETECTOR_CONFIG_REFRESH_MS (an UPDATE takes effect without a restart).

CREATE TABLE IF NOT EXISTS detection (
  id                BIGINT UNSIGNED  NOT NULL AUTO_INCREMENT,
  -- detector|subject|first µs: the same whichever replica opened it, so replicas update one row.
  incident_id       VARCHAR(255)     NOT NULL,
  detector          ENUM('horizontal_scan','vertical_scan','syn_flood','brute_force','beaconing') NOT NULL,
  source_addr       VARCHAR(45)      NULL COMMENT 'the attacking source; NULL for a SYN flood (sources may be spoofed)',
  target            VARCHAR(80)      NOT NULL COMMENT '*:port/proto (horizontal scan), addr (vertical), addr:port/proto',
  window_seconds    INT UNSIGNED     NOT NULL,
  threshold         INT UNSIGNED     NOT NULL,
  peak_count        INT UNSIGNED     NOT NULL COMMENT 'most destinations, ports or sessions within one window',
  sessions          INT UNSIGNED     NOT NULL,
  distinct_targets  INT UNSIGNED     NOT NULL,
  distinct_sources  INT UNSIGNED     NOT NULL,
  period_seconds    DOUBLE           NULL COMMENT 'beaconing: the period',
  targets           JSON             NOT NULL COMMENT 'addr:port endpoints, the first evidence_cap',
  sources           JSON             NOT NULL,
  agents            JSON             NOT NULL COMMENT 'every agent that saw a session of it (up to evidence_cap)',
  evidence          JSON             NOT NULL COMMENT 'Community IDs of its sessions, the first evidence_cap',
  first_seen        DATETIME(6)      NOT NULL,
  last_seen         DATETIME(6)      NOT NULL,
  version           INT UNSIGNED     NOT NULL COMMENT 'the lists are those of the highest version written',
  detected_at       TIMESTAMP(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at        TIMESTAMP(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_incident (incident_id),
  KEY ix_detector_last (detector, last_seen),
  KEY ix_source_last (source_addr, last_seen),
  KEY ix_last_seen (last_seen)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS detector_config (
  detector        ENUM('horizontal_scan','vertical_scan','syn_flood','brute_force','beaconing') NOT NULL,
  enabled         TINYINT(1)   NOT NULL DEFAULT 1,
  threshold       INT          NOT NULL,
  window_seconds  INT          NOT NULL,
  member_cap      INT          NOT NULL COMMENT 'destinations/ports/sessions kept per subject',
  subject_cap     INT          NOT NULL COMMENT 'new subjects (sources, targets) tracked per window',
  evidence_cap    INT          NOT NULL,
  params          TEXT         NULL COMMENT 'JSON: ports, labels, max_session_seconds (brute_force); min_period_seconds, max_jitter, merge_seconds (beaconing)',
  updated_at      TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (detector)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The defaults of lib/src/detectors/config.ts, written out so that an operator sees and edits them.
INSERT IGNORE INTO detector_config (detector, enabled, threshold, window_seconds, member_cap, subject_cap, evidence_cap, params) VALUES
  ('horizontal_scan', 1, 5,   300,  1024, 100000, 100, NULL),
  ('vertical_scan',   1, 10,  300,  1024, 100000, 100, NULL),
  ('syn_flood',       1, 100, 10,   4096, 100000, 100, NULL),
  ('brute_force',     1, 20,  300,  1024, 100000, 100,
   '{"ports":[21,22,23,25,110,143,465,587,993,995,1433,3306,3389,5432,5900,6379],"labels":["bruteforce"],"max_session_seconds":30}'),
  ('beaconing',       1, 8,   3600, 64,   100000, 100, '{"min_period_seconds":10,"max_jitter":0.1,"merge_seconds":2}');

-- Incidents for people. Written for Debezium's DDL parser too, which reads every DDL statement of the database from
-- the binlog and stops the connector at one it cannot parse (JSON_TABLE is such a one): plain functions only.
CREATE OR REPLACE VIEW report_detections AS
SELECT id, detector, source_addr, target, window_seconds, threshold, peak_count, sessions, distinct_targets,
       distinct_sources, period_seconds, agents, JSON_LENGTH(agents) AS agent_count,
       first_seen, last_seen, detected_at, updated_at, incident_id
FROM detection;

-- Incidents per detector and hour (of their first session).
CREATE OR REPLACE VIEW report_detections_per_hour AS
SELECT DATE_FORMAT(first_seen, '%Y-%m-%d %H:00:00') AS hour, detector, COUNT(*) AS incidents,
       SUM(sessions) AS sessions, COUNT(DISTINCT source_addr) AS sources
FROM detection
GROUP BY hour, detector;

-- The detector stage: reads its thresholds, writes incidents (upserts: SELECT, INSERT and UPDATE on detection).
CREATE USER IF NOT EXISTS '{{DETECTOR_USER}}'@'%' IDENTIFIED BY '{{DETECTOR_PASSWORD}}';
GRANT SELECT ON detector_config TO '{{DETECTOR_USER}}'@'%';
GRANT SELECT, INSERT, UPDATE ON detection TO '{{DETECTOR_USER}}'@'%';

GRANT SELECT ON detection TO '{{REPORT_USER}}'@'%';
GRANT SELECT ON detector_config TO '{{REPORT_USER}}'@'%';
GRANT SELECT, SHOW VIEW ON report_detections TO '{{REPORT_USER}}'@'%';
GRANT SELECT, SHOW VIEW ON report_detections_per_hour TO '{{REPORT_USER}}'@'%';
