-- Storage at fleet scale (issue 20, item 8): 1,000 sessions/s is 86 M verdict rows a day. The tables that grow with
-- traffic are partitioned by day, and their retention (retention_policy, one row per table, edited with plain SQL) is
-- applied by dropping whole days: a DROP PARTITION frees a day in a moment and writes nothing to the redo log per
-- row, where a DELETE of 86 M rows locks, logs and purges each one for hours.
--
--   UPDATE retention_policy SET retention_days = 14 WHERE data = 'session_verdict';
--
-- Tables, and the day each row belongs to (a day is TO_DAYS of a UTC date: 739952 is 2025-12-02):
--   session_verdict  occurrence_day: the day of the session occurrence's first µs (`occurrence`, set once when the
--                    occurrence starts, sql/001), so a replayed verdict of the same occurrence falls on the same day
--                    and the unique key (agent_id, session_key, occurrence, occurrence_day) still makes it a no-op.
--                    first_packet_at is not used: it can move earlier when a late batch brings an earlier packet,
--                    and a verdict replayed after that would then be a second row. A row without an occurrence
--                    (0: written by hand) takes the day of its first packet.
--   alert_packet     occurrence_day of its verdict row (the worker writes it; a row inserted without it gets its
--                    verdict's by trigger), so an alert's packets live and expire with the same day.
--   detection        incident_day: the day of the incident's first session, the µs that ends incident_id
--                    ('detector|subject|first µs', the same on every replica), so the upsert on incident_id still
--                    finds its row; first_seen can move earlier and is not used.
--   packet_drop      the day of bucket_start (already in its primary key).
-- MariaDB requires the partitioning column in every unique key: each day column is added to the primary and unique
-- keys. It is a plain column with a DEFAULT expression, not a generated one: MariaDB refuses a generated column in a
-- primary key. No writer sets it (the worker's alert_packet rows copy their verdict's).
--
-- Partitions: p_before (everything before the first day), one per UTC day, and p_future (MAXVALUE), which keeps a
-- write of a day that has no partition yet (maintenance not run, an agent's clock far ahead) from failing.
-- fleetcap_maintain_partitions() adds each table's days up to days_ahead after today (splitting p_future, which is
-- empty then, so the split copies nothing) and drops every day older than its retention: a partition whose days
-- are all more than retention_days before today. An expired row that arrives late (an agent's clock behind) lands
-- in the oldest partition and leaves with it, within a day. A verdict partition's drop also deletes the rollup
-- hours it held (alert_count_hour, a few rows per hour): DROP PARTITION fires no DELETE trigger.
--
-- Who runs it: the session-worker's maintenance loop (apps/session-worker/src/retention.ts, every
-- FLEETCAP_RETENTION_INTERVAL_MS; one worker at a time), which logs and counts each run, with the procedure running
-- as its definer (the migration account) so that no app account may ALTER or DROP anything: docs/ARCHITECTURE.md
-- "Verdict storage at fleet scale" says why not the event scheduler. An operator may run it by hand:
-- CALL fleetcap_maintain_partitions(NULL);
--
-- Upgrade path: the tables are rebuilt once (one copy each: the key changes and the partitioning are one ALTER),
-- about 1.5 min per million verdict rows on a loaded 2-core machine. Apply it with the workers, splitcap and the
-- detector stopped, like sql/014. The foreign key of alert_packet on session_verdict goes (partitioned InnoDB tables
-- have none): the worker writes both in one transaction, and retention drops both by day. Rows older than a
-- retention leave at the first maintenance run after this migration: set retention_days first to keep them.
-- Every statement can run again: a table already partitioned is left as it is.

INSERT IGNORE INTO retention_policy (data, retention_days) VALUES
  ('session_verdict', 30),
  ('detection', 90),
  ('packet_drop', 90);

-- What maintenance does to each table, and what it did last (read by the worker for its log and metrics, and by
-- operators). days_ahead: the days after today that have a partition before their first row arrives.
CREATE TABLE IF NOT EXISTS partition_maintenance (
  table_name     VARCHAR(64)   NOT NULL,
  days_ahead     INT UNSIGNED  NOT NULL DEFAULT 3,
  partitions     INT UNSIGNED  NULL COMMENT 'day partitions after the last run (p_before and p_future not counted)',
  oldest_day     DATE          NULL COMMENT 'the first day with its own partition',
  newest_day     DATE          NULL,
  last_added     INT UNSIGNED  NULL COMMENT 'day partitions the last run added',
  last_dropped   INT UNSIGNED  NULL COMMENT 'partitions the last run dropped',
  last_run_at    DATETIME(3)   NULL,
  PRIMARY KEY (table_name),
  CONSTRAINT ck_days_ahead CHECK (days_ahead BETWEEN 1 AND 60)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT IGNORE INTO partition_maintenance (table_name) VALUES
  ('session_verdict'), ('alert_packet'), ('detection'), ('packet_drop');

-- The partition list of a table partitioned by day: p_before, the days first_day .. last_day, p_future. (A procedure:
-- a function would need log_bin_trust_function_creators with the binlog on.)
DROP PROCEDURE IF EXISTS fleetcap_day_partitions;
CREATE PROCEDURE fleetcap_day_partitions(first_day INT, last_day INT, OUT parts TEXT)
BEGIN
  DECLARE d INT DEFAULT first_day;
  SET parts = CONCAT('PARTITION p_before VALUES LESS THAN (', first_day, ')');
  WHILE d <= last_day DO
    SET parts = CONCAT(parts, ', PARTITION p', DATE_FORMAT(FROM_DAYS(d), '%Y%m%d'), ' VALUES LESS THAN (', d + 1, ')');
    SET d = d + 1;
  END WHILE;
  SET parts = CONCAT(parts, ', PARTITION p_future VALUES LESS THAN MAXVALUE');
END;

-- Rebuilds a table, not yet partitioned, with `changes` (its key changes) and partitioned by day on day_expr, with a
-- partition per day from the day of its oldest row (first_day), or from its retention's first day when that is
-- earlier (so that p_before holds only expired rows and leaves at the first maintenance), at most 1,000 days back,
-- to days_ahead after today. One ALTER: one copy of the table.
DROP PROCEDURE IF EXISTS fleetcap_partition_by_day;
CREATE PROCEDURE fleetcap_partition_by_day(tbl VARCHAR(64), changes TEXT, day_expr VARCHAR(255), first_day INT)
BEGIN
  DECLARE today INT DEFAULT TO_DAYS(UTC_DATE());
  DECLARE ahead INT;
  DECLARE keep INT;
  DECLARE parts TEXT;
  SELECT days_ahead INTO ahead FROM partition_maintenance WHERE table_name = tbl;
  SELECT MAX(retention_days) INTO keep FROM retention_policy WHERE data = tbl;
  IF NOT EXISTS (SELECT 1 FROM information_schema.PARTITIONS
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = tbl AND PARTITION_NAME IS NOT NULL) THEN
    CALL fleetcap_day_partitions(GREATEST(LEAST(COALESCE(first_day, today), today - COALESCE(keep, 0)), today - 1000),
                                 today + COALESCE(ahead, 3), parts);
    SET @fleetcap_ddl = CONCAT('ALTER TABLE ', tbl, ' ', changes, ' PARTITION BY RANGE (', day_expr, ') (', parts, ')');
    PREPARE fleetcap_ddl FROM @fleetcap_ddl;
    EXECUTE fleetcap_ddl;
    DEALLOCATE PREPARE fleetcap_ddl;
  END IF;
END;

-- One table: adds its days up to days_ahead after as_of, drops the partitions older than its retention (none when
-- it has no retention_policy row: deleting on a guess would lose data), and records what it did.
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

-- Every table of partition_maintenance, as of a day (NULL: today, UTC). One run at a time (a named lock: a second
-- caller returns at once with no rows); returns each table's row of partition_maintenance after the run.
DROP PROCEDURE IF EXISTS fleetcap_maintain_partitions;
CREATE PROCEDURE fleetcap_maintain_partitions(as_of DATE)
BEGIN
  DECLARE today INT DEFAULT TO_DAYS(IFNULL(as_of, UTC_DATE()));
  DECLARE tbl VARCHAR(64) DEFAULT '';
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    DO RELEASE_LOCK('fleetcap_partition_maintenance');
    RESIGNAL;
  END;
  IF GET_LOCK('fleetcap_partition_maintenance', 0) = 1 THEN
    each_table: LOOP
      SET tbl = (SELECT MIN(table_name) FROM partition_maintenance WHERE table_name > tbl);
      IF tbl IS NULL THEN LEAVE each_table; END IF;
      CALL fleetcap_maintain_table(tbl, today);
    END LOOP each_table;
    DO RELEASE_LOCK('fleetcap_partition_maintenance');
    SELECT table_name, partitions, oldest_day, newest_day, last_added, last_dropped, last_run_at
      FROM partition_maintenance ORDER BY table_name;
  END IF;
END;

-- alert_packet: its verdict's day, filled from the verdict rows already there (the foreign key goes first: a
-- partitioned table can have none), and by trigger for a row written without it.
ALTER TABLE alert_packet DROP FOREIGN KEY IF EXISTS fk_alert_packet_verdict;
ALTER TABLE alert_packet ADD COLUMN IF NOT EXISTS occurrence_day INT NOT NULL DEFAULT 0 AFTER packet_index;

-- The verdict rows: the day column, the keys with it, the partitions.
SET @first_verdict_day = (SELECT TO_DAYS(MIN(first_packet_at)) FROM session_verdict);
CALL fleetcap_partition_by_day('session_verdict',
  'ADD COLUMN occurrence_day INT NOT NULL DEFAULT (IF(occurrence > 0, occurrence DIV 86400000000 + 719528, TO_DAYS(first_packet_at))) AFTER occurrence,
   DROP PRIMARY KEY, ADD PRIMARY KEY (id, occurrence_day),
   DROP INDEX uq_agent_session_occurrence,
   ADD UNIQUE KEY uq_agent_session_occurrence (agent_id, session_key, occurrence, occurrence_day)',
  'occurrence_day', @first_verdict_day);

-- (After the verdicts have their day: the packets copy it. 0 left: packets whose verdict is gone.)
CREATE OR REPLACE TRIGGER alert_packet_occurrence_day BEFORE INSERT ON alert_packet
  FOR EACH ROW SET NEW.occurrence_day = IF(NEW.occurrence_day <> 0, NEW.occurrence_day,
    COALESCE((SELECT v.occurrence_day FROM session_verdict v WHERE v.id = NEW.verdict_id LIMIT 1), TO_DAYS(UTC_DATE())));

UPDATE alert_packet p JOIN session_verdict v ON v.id = p.verdict_id
   SET p.occurrence_day = v.occurrence_day WHERE p.occurrence_day = 0;
UPDATE alert_packet SET occurrence_day = TO_DAYS(stored_at) WHERE occurrence_day = 0;
SET @first_packet_day = (SELECT MIN(occurrence_day) FROM alert_packet);
CALL fleetcap_partition_by_day('alert_packet',
  'DROP PRIMARY KEY, ADD PRIMARY KEY (verdict_id, packet_index, occurrence_day)',
  'occurrence_day', @first_packet_day);

SET @first_detection_day = (SELECT TO_DAYS(MIN(first_seen)) FROM detection);
CALL fleetcap_partition_by_day('detection',
  'ADD COLUMN incident_day INT NOT NULL DEFAULT (IF(SUBSTRING_INDEX(incident_id, ''|'', -1) REGEXP ''^[0-9]{1,17}$'',
       CAST(SUBSTRING_INDEX(incident_id, ''|'', -1) AS UNSIGNED) DIV 86400000000 + 719528, TO_DAYS(first_seen))) AFTER incident_id,
   DROP PRIMARY KEY, ADD PRIMARY KEY (id, incident_day),
   DROP INDEX uq_incident, ADD UNIQUE KEY uq_incident (incident_id, incident_day)',
  'incident_day', @first_detection_day);

SET @first_drop_day = (SELECT TO_DAYS(MIN(bucket_start)) FROM packet_drop);
CALL fleetcap_partition_by_day('packet_drop', '', 'TO_DAYS(bucket_start)', @first_drop_day);

-- The alerts' packet counts read the partition of the verdict's day only.
CREATE OR REPLACE VIEW report_alerts AS
SELECT v.id, v.agent_id, v.community_id, v.label, v.score, v.protocol,
       v.client_addr, v.client_port, v.server_addr, v.server_port,
       v.first_packet_at, v.last_packet_at, v.packets, v.bytes, v.model_version, v.reason, v.classified_at,
       (SELECT COUNT(*) FROM alert_packet p WHERE p.verdict_id = v.id AND p.occurrence_day = v.occurrence_day)
         AS packets_kept,
       v.alert_reason, COALESCE(v.alert_label, v.label) AS alert_label, v.detection_id,
       (SELECT d.detector FROM detection d WHERE d.incident_id = v.detection_id) AS detector
FROM session_verdict v
WHERE v.alert = 1;

-- The session-worker runs the maintenance (as the procedure's definer, so it needs no ALTER or DROP) and reads what
-- it did; the reporting account reads that too. The worker's DELETE on alert_packet (sql/005) is no longer used.
GRANT EXECUTE ON PROCEDURE fleetcap_maintain_partitions TO '{{WORKER_USER}}'@'{{WORKER_HOST}}';
GRANT SELECT ON partition_maintenance TO '{{WORKER_USER}}'@'{{WORKER_HOST}}';
GRANT SELECT ON partition_maintenance TO '{{REPORT_USER}}'@'{{REPORT_HOST}}';
