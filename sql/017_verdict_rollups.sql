-- Reporting at fleet scale (issue 20, item 8): report_verdicts_per_label_hour read every verdict row of the table to
-- answer for one day (its hour is an expression, so a condition on it reaches no index): 9-67 s at 1,000,000 rows.
-- It now reads verdict_count_hour, a rollup of the verdicts per hour (of first_packet_at, UTC) and model label,
-- kept exact by the triggers of session_verdict on every INSERT, UPDATE and DELETE, whoever writes (the worker, the
-- detector marking evidence rows, an operator by hand): a few rows per hour, whatever the number of sessions.
--
-- One trigger per event keeps both rollups (alert_count_hour of sql/014 and this one): a second trigger per event
-- would cost every row a second invocation. Like alert_count_hour, a row's counts go to the slot of its connection
-- (CONNECTION_ID() % 8), so that several workers writing sessions of the same hour and label in concurrent
-- transactions lock different rollup rows, each until its own commit, instead of queueing on one; the view adds the
-- slots up. avg_score is the sum of the scores over the number of sessions (the same value as AVG(score), up to the
-- order in which doubles are added). An hour and label whose sessions were all deleted have rows whose counts add up
-- to 0: the view leaves them out, as the old view had no row for them.
--
-- Retention: a dropped day of session_verdict fires no DELETE trigger, so the maintenance deletes the rollup hours
-- of the days it drops (fleetcap_maintain_table, replaced below with that one change).
--
-- Upgrade path: like sql/014, apply it with the workers and the detector stopped (a row written between the
-- triggers' creation and the fill would be counted twice). The fill reads every verdict row once (about 10 s per
-- million on a loaded 2-core machine). Every statement can run again.
CREATE TABLE IF NOT EXISTS verdict_count_hour (
  hour_start        DATETIME          NOT NULL,
  label             VARCHAR(64)       NOT NULL,
  slot              TINYINT UNSIGNED  NOT NULL,
  sessions          INT               NOT NULL,
  alerts            INT               NOT NULL,
  unknown           INT               NOT NULL,
  packets           BIGINT            NOT NULL,
  bytes             BIGINT            NOT NULL,
  score_sum         DOUBLE            NOT NULL,
  detection_alerts  INT               NOT NULL,
  PRIMARY KEY (hour_start, label, slot)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE OR REPLACE TRIGGER session_verdict_alert_count_insert AFTER INSERT ON session_verdict
  FOR EACH ROW
  BEGIN
    INSERT INTO verdict_count_hour (hour_start, label, slot, sessions, alerts, unknown, packets, bytes, score_sum,
                                    detection_alerts)
    VALUES (DATE_FORMAT(NEW.first_packet_at, '%Y-%m-%d %H:00:00'), NEW.label, CONNECTION_ID() % 8, 1, NEW.alert,
            NEW.unknown, NEW.packets, NEW.bytes, NEW.score, NEW.detection_id IS NOT NULL)
    ON DUPLICATE KEY UPDATE sessions = verdict_count_hour.sessions + 1,
      alerts = verdict_count_hour.alerts + VALUES(alerts), unknown = verdict_count_hour.unknown + VALUES(unknown),
      packets = verdict_count_hour.packets + VALUES(packets), bytes = verdict_count_hour.bytes + VALUES(bytes),
      score_sum = verdict_count_hour.score_sum + VALUES(score_sum),
      detection_alerts = verdict_count_hour.detection_alerts + VALUES(detection_alerts);
    IF NEW.alert = 1 THEN
      INSERT INTO alert_count_hour (hour_start, alert_label, slot, alerts)
      VALUES (DATE_FORMAT(NEW.first_packet_at, '%Y-%m-%d %H:00:00'), COALESCE(NEW.alert_label, NEW.label),
              CONNECTION_ID() % 4, 1)
      ON DUPLICATE KEY UPDATE alerts = alert_count_hour.alerts + 1;
    END IF;
  END;

-- Most updates (the worker completing a row's connection record) change none of the columns counted: then nothing is
-- written. Otherwise the old row is taken out and the new one added.
CREATE OR REPLACE TRIGGER session_verdict_alert_count_update AFTER UPDATE ON session_verdict
  FOR EACH ROW
  BEGIN
    IF NOT (OLD.first_packet_at <=> NEW.first_packet_at AND OLD.label <=> NEW.label AND OLD.alert <=> NEW.alert
            AND OLD.unknown <=> NEW.unknown AND OLD.packets <=> NEW.packets AND OLD.bytes <=> NEW.bytes
            AND OLD.score <=> NEW.score AND (OLD.detection_id IS NULL) <=> (NEW.detection_id IS NULL)) THEN
      INSERT INTO verdict_count_hour (hour_start, label, slot, sessions, alerts, unknown, packets, bytes, score_sum,
                                      detection_alerts)
      VALUES (DATE_FORMAT(OLD.first_packet_at, '%Y-%m-%d %H:00:00'), OLD.label, CONNECTION_ID() % 8, -1, -OLD.alert,
              -OLD.unknown, -CAST(OLD.packets AS SIGNED), -CAST(OLD.bytes AS SIGNED), -OLD.score,
              -(OLD.detection_id IS NOT NULL)),
             (DATE_FORMAT(NEW.first_packet_at, '%Y-%m-%d %H:00:00'), NEW.label, CONNECTION_ID() % 8, 1, NEW.alert,
              NEW.unknown, NEW.packets, NEW.bytes, NEW.score, NEW.detection_id IS NOT NULL)
      ON DUPLICATE KEY UPDATE sessions = verdict_count_hour.sessions + VALUES(sessions),
        alerts = verdict_count_hour.alerts + VALUES(alerts), unknown = verdict_count_hour.unknown + VALUES(unknown),
        packets = verdict_count_hour.packets + VALUES(packets), bytes = verdict_count_hour.bytes + VALUES(bytes),
        score_sum = verdict_count_hour.score_sum + VALUES(score_sum),
        detection_alerts = verdict_count_hour.detection_alerts + VALUES(detection_alerts);
    END IF;
    IF NOT (OLD.alert <=> NEW.alert AND OLD.first_packet_at <=> NEW.first_packet_at
            AND COALESCE(OLD.alert_label, OLD.label) <=> COALESCE(NEW.alert_label, NEW.label)) THEN
      INSERT INTO alert_count_hour (hour_start, alert_label, slot, alerts)
      SELECT d.hour_start, d.alert_label, CONNECTION_ID() % 4, d.delta
      FROM (SELECT DATE_FORMAT(OLD.first_packet_at, '%Y-%m-%d %H:00:00') AS hour_start,
                   COALESCE(OLD.alert_label, OLD.label) AS alert_label, -1 AS delta
            FROM DUAL WHERE OLD.alert = 1
            UNION ALL
            SELECT DATE_FORMAT(NEW.first_packet_at, '%Y-%m-%d %H:00:00'), COALESCE(NEW.alert_label, NEW.label), 1
            FROM DUAL WHERE NEW.alert = 1) d
      ON DUPLICATE KEY UPDATE alerts = alert_count_hour.alerts + VALUES(alerts);
    END IF;
  END;

CREATE OR REPLACE TRIGGER session_verdict_alert_count_delete AFTER DELETE ON session_verdict
  FOR EACH ROW
  BEGIN
    INSERT INTO verdict_count_hour (hour_start, label, slot, sessions, alerts, unknown, packets, bytes, score_sum,
                                    detection_alerts)
    VALUES (DATE_FORMAT(OLD.first_packet_at, '%Y-%m-%d %H:00:00'), OLD.label, CONNECTION_ID() % 8, -1, -OLD.alert,
            -OLD.unknown, -CAST(OLD.packets AS SIGNED), -CAST(OLD.bytes AS SIGNED), -OLD.score,
            -(OLD.detection_id IS NOT NULL))
    ON DUPLICATE KEY UPDATE sessions = verdict_count_hour.sessions - 1,
      alerts = verdict_count_hour.alerts + VALUES(alerts), unknown = verdict_count_hour.unknown + VALUES(unknown),
      packets = verdict_count_hour.packets + VALUES(packets), bytes = verdict_count_hour.bytes + VALUES(bytes),
      score_sum = verdict_count_hour.score_sum + VALUES(score_sum),
      detection_alerts = verdict_count_hour.detection_alerts + VALUES(detection_alerts);
    IF OLD.alert = 1 THEN
      INSERT INTO alert_count_hour (hour_start, alert_label, slot, alerts)
      VALUES (DATE_FORMAT(OLD.first_packet_at, '%Y-%m-%d %H:00:00'), COALESCE(OLD.alert_label, OLD.label),
              CONNECTION_ID() % 4, -1)
      ON DUPLICATE KEY UPDATE alerts = alert_count_hour.alerts - 1;
    END IF;
  END;

-- (Emptied first: a run stopped after this point, applied again, counts every row once.)
DELETE FROM verdict_count_hour;
INSERT INTO verdict_count_hour (hour_start, label, slot, sessions, alerts, unknown, packets, bytes, score_sum,
                                detection_alerts)
SELECT DATE_FORMAT(first_packet_at, '%Y-%m-%d %H:00:00'), label, 0, COUNT(*), SUM(alert), SUM(unknown), SUM(packets),
       SUM(bytes), SUM(score), SUM(detection_id IS NOT NULL)
FROM session_verdict
GROUP BY DATE_FORMAT(first_packet_at, '%Y-%m-%d %H:00:00'), label;

-- The same columns, names and types as sql/010's view (COUNT(*) is a BIGINT, the sums DECIMAL, avg_score a DOUBLE).
CREATE OR REPLACE VIEW report_verdicts_per_label_hour AS
SELECT DATE_FORMAT(hour_start, '%Y-%m-%d %H:00:00') AS hour,
       label,
       CAST(SUM(sessions) AS SIGNED)  AS sessions,
       SUM(alerts)                    AS alerts,
       SUM(unknown)                   AS unknown,
       SUM(packets)                   AS packets,
       SUM(bytes)                     AS bytes,
       SUM(score_sum) / SUM(sessions) AS avg_score,
       SUM(detection_alerts)          AS detection_alerts
FROM verdict_count_hour
GROUP BY hour_start, label
HAVING SUM(sessions) > 0;

-- sql/016's maintenance of one table, with one change: a dropped day of verdicts takes its hours out of both rollups.
DROP PROCEDURE IF EXISTS fleetcap_maintain_table;
CREATE PROCEDURE fleetcap_maintain_table(tbl VARCHAR(64), today INT)
BEGIN
  DECLARE keep INT;
  DECLARE ahead INT;
  DECLARE last_bound INT;
  DECLARE new_parts TEXT DEFAULT '';
  DECLARE added INT DEFAULT 0;
  DECLARE expired TEXT;
  DECLARE n_expired INT DEFAULT 0;
  DECLARE expired_bound INT;
  SELECT MAX(retention_days) INTO keep FROM retention_policy WHERE data = tbl;
  SELECT days_ahead INTO ahead FROM partition_maintenance WHERE table_name = tbl;
  SELECT MAX(CAST(PARTITION_DESCRIPTION AS SIGNED)) INTO last_bound FROM information_schema.PARTITIONS
   WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = tbl AND PARTITION_DESCRIPTION <> 'MAXVALUE';
  IF last_bound IS NULL THEN
    SET @fleetcap_error = CONCAT(tbl, ' is not partitioned by day: apply sql/016 (fleetcap migrate)');
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = @fleetcap_error;
  END IF;
  WHILE last_bound <= today + ahead DO
    SET new_parts = CONCAT(new_parts, 'PARTITION p', DATE_FORMAT(FROM_DAYS(last_bound), '%Y%m%d'),
                           ' VALUES LESS THAN (', last_bound + 1, '), ');
    SET last_bound = last_bound + 1, added = added + 1;
  END WHILE;
  IF added > 0 THEN
    SET @fleetcap_ddl = CONCAT('ALTER TABLE ', tbl, ' REORGANIZE PARTITION p_future INTO (', new_parts,
                             'PARTITION p_future VALUES LESS THAN MAXVALUE)');
    PREPARE fleetcap_ddl FROM @fleetcap_ddl;
    EXECUTE fleetcap_ddl;
    DEALLOCATE PREPARE fleetcap_ddl;
  END IF;
  IF keep IS NOT NULL THEN
    SELECT GROUP_CONCAT(PARTITION_NAME ORDER BY PARTITION_ORDINAL_POSITION), COUNT(*), MAX(CAST(PARTITION_DESCRIPTION AS SIGNED))
      INTO expired, n_expired, expired_bound
      FROM information_schema.PARTITIONS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = tbl AND PARTITION_DESCRIPTION <> 'MAXVALUE'
       AND CAST(PARTITION_DESCRIPTION AS SIGNED) <= today - keep;
    IF n_expired > 0 THEN
      SET @fleetcap_ddl = CONCAT('ALTER TABLE ', tbl, ' DROP PARTITION ', expired);
      PREPARE fleetcap_ddl FROM @fleetcap_ddl;
      EXECUTE fleetcap_ddl;
      DEALLOCATE PREPARE fleetcap_ddl;
      IF tbl = 'session_verdict' THEN
        DELETE FROM alert_count_hour WHERE hour_start < FROM_DAYS(expired_bound);
        DELETE FROM verdict_count_hour WHERE hour_start < FROM_DAYS(expired_bound);
      END IF;
    END IF;
  END IF;
  UPDATE partition_maintenance m
     SET m.last_added = added, m.last_dropped = n_expired, m.last_run_at = UTC_TIMESTAMP(3),
         m.partitions = (SELECT COUNT(*) FROM information_schema.PARTITIONS
                          WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = tbl AND PARTITION_NAME NOT IN ('p_before', 'p_future')),
         m.oldest_day = (SELECT FROM_DAYS(MIN(CAST(PARTITION_DESCRIPTION AS SIGNED)) - 1) FROM information_schema.PARTITIONS
                          WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = tbl AND PARTITION_NAME NOT IN ('p_before', 'p_future')),
         m.newest_day = FROM_DAYS(last_bound - 1)
   WHERE m.table_name = tbl;
END;

-- ix_alert_time (alert, first_packet_at; sql/005) is the first two columns of ix_alert_time_class (sql/014): every
-- search it serves, the longer one serves the same way. One index fewer for every insert to keep.
ALTER TABLE session_verdict DROP KEY IF EXISTS ix_alert_time;

-- The reporting account reads the rollup (as sql/014 grants alert_count_hour).
GRANT SELECT ON verdict_count_hour TO '{{REPORT_USER}}'@'{{REPORT_HOST}}';
