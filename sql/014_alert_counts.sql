-- The console's alerts page, fast by design whatever the number of verdict rows (issue 16: under 300 ms with
-- 1,000,000 of them): its chart and its total read a rollup of alerts per hour and class, not every alert of the
-- range; its rows are read by keyset from an index in the page's order; and its filters and chart are by the class an
-- alert is alerted as (alert_label, sql/010), which for an evidence row of a detection is the detection's class.
--
-- alert_count_hour: alerts per hour (of first_packet_at, UTC) and class (COALESCE(alert_label, label)), kept by the
-- triggers below on every INSERT, UPDATE and DELETE of session_verdict, so every writer keeps it exact: the worker's
-- INSERT IGNORE counts only the rows it stored (a replayed batch adds nothing), the detector's marking of evidence
-- rows moves a row from its old class to the new one, and a DELETE takes its row out. The count of an hour and class
-- is the SUM over `slot`: a trigger adds to the slot of its connection (CONNECTION_ID() % 4), so that two workers
-- writing alerts of the same hour and class in concurrent transactions mostly lock different rows, each until its
-- own commit, instead of queueing on one. A slot's value may be negative (a row counted in one slot and moved out
-- from another); the sum is exact.
--
-- The triggers run as the account that applied this migration (their definer): the app accounts need no grant on
-- alert_count_hour, and that account must stay (dropping it makes every write of session_verdict fail).
--
-- Upgrade path: the rollup is filled from the rows already there, after the triggers exist, and the indexes of sql/012
-- are replaced (about a minute for 1,000,000 rows on a loaded 2-core machine). Apply it with the workers and the
-- detector stopped (as `stack up` and `fleetcap migrate` are run), or a row written between the triggers' creation and
-- the fill is counted twice. Every statement can run again: a run stopped halfway is finished by the next one.
CREATE TABLE IF NOT EXISTS alert_count_hour (
  hour_start   DATETIME          NOT NULL,
  alert_label  VARCHAR(64)       NOT NULL,
  slot         TINYINT UNSIGNED  NOT NULL,
  alerts       INT               NOT NULL,
  PRIMARY KEY (hour_start, alert_label, slot)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE OR REPLACE TRIGGER session_verdict_alert_count_insert AFTER INSERT ON session_verdict
  FOR EACH ROW
  INSERT INTO alert_count_hour (hour_start, alert_label, slot, alerts)
  SELECT DATE_FORMAT(NEW.first_packet_at, '%Y-%m-%d %H:00:00'), COALESCE(NEW.alert_label, NEW.label),
         CONNECTION_ID() % 4, 1
  FROM DUAL WHERE NEW.alert = 1
  ON DUPLICATE KEY UPDATE alerts = alert_count_hour.alerts + 1;

-- Most updates (the worker completing a row's connection record) change none of the three: then nothing is written.
CREATE OR REPLACE TRIGGER session_verdict_alert_count_update AFTER UPDATE ON session_verdict
  FOR EACH ROW
  INSERT INTO alert_count_hour (hour_start, alert_label, slot, alerts)
  SELECT d.hour_start, d.alert_label, CONNECTION_ID() % 4, d.delta
  FROM (SELECT DATE_FORMAT(OLD.first_packet_at, '%Y-%m-%d %H:00:00') AS hour_start,
               COALESCE(OLD.alert_label, OLD.label) AS alert_label, -1 AS delta
        FROM DUAL WHERE OLD.alert = 1
        UNION ALL
        SELECT DATE_FORMAT(NEW.first_packet_at, '%Y-%m-%d %H:00:00'), COALESCE(NEW.alert_label, NEW.label), 1
        FROM DUAL WHERE NEW.alert = 1) d
  WHERE NOT (OLD.alert <=> NEW.alert AND OLD.first_packet_at <=> NEW.first_packet_at
             AND COALESCE(OLD.alert_label, OLD.label) <=> COALESCE(NEW.alert_label, NEW.label))
  ON DUPLICATE KEY UPDATE alerts = alert_count_hour.alerts + VALUES(alerts);

CREATE OR REPLACE TRIGGER session_verdict_alert_count_delete AFTER DELETE ON session_verdict
  FOR EACH ROW
  INSERT INTO alert_count_hour (hour_start, alert_label, slot, alerts)
  SELECT DATE_FORMAT(OLD.first_packet_at, '%Y-%m-%d %H:00:00'), COALESCE(OLD.alert_label, OLD.label),
         CONNECTION_ID() % 4, -1
  FROM DUAL WHERE OLD.alert = 1
  ON DUPLICATE KEY UPDATE alerts = alert_count_hour.alerts - 1;

-- Every alert row has its class (the writers set it; sql/010's default gave it to the rows before): the console's
-- queries read alert_label from the indexes alone. A row written without one (by hand) gets its model label here.
UPDATE session_verdict SET alert_label = label WHERE alert = 1 AND alert_label IS NULL;

-- (Emptied first: a run stopped after this point, applied again, counts every row once.)
DELETE FROM alert_count_hour;
INSERT INTO alert_count_hour (hour_start, alert_label, slot, alerts)
SELECT DATE_FORMAT(first_packet_at, '%Y-%m-%d %H:00:00'), COALESCE(alert_label, label), 0, COUNT(*)
FROM session_verdict WHERE alert = 1
GROUP BY DATE_FORMAT(first_packet_at, '%Y-%m-%d %H:00:00'), COALESCE(alert_label, label)
ON DUPLICATE KEY UPDATE alerts = alert_count_hour.alerts + VALUES(alerts);

-- The alerts page's indexes (sql/012) by class instead of the model's label, and one for a target with its port: each
-- starts with alert and the filtered column(s), then the time and the class, which is the page's order (first_packet_at DESC, alert_label DESC, id DESC;
-- InnoDB ends every secondary index with the primary key), so a page is the next pageRows entries after its cursor,
-- and the counts of a filtered range are read from the index alone.
ALTER TABLE session_verdict
  DROP KEY IF EXISTS ix_alert_label_time,
  DROP KEY IF EXISTS ix_alert_agent_time,
  DROP KEY IF EXISTS ix_alert_client_time,
  DROP KEY IF EXISTS ix_alert_server_time,
  DROP KEY IF EXISTS ix_alert_time_label;
ALTER TABLE session_verdict
  ADD KEY IF NOT EXISTS ix_alert_class_time (alert, alert_label, first_packet_at),
  ADD KEY IF NOT EXISTS ix_alert_agent_time (alert, agent_id, first_packet_at, alert_label),
  ADD KEY IF NOT EXISTS ix_alert_client_time (alert, client_addr, first_packet_at, alert_label),
  ADD KEY IF NOT EXISTS ix_alert_server_time (alert, server_addr, first_packet_at, alert_label),
  ADD KEY IF NOT EXISTS ix_alert_service_time (alert, server_addr, server_port, first_packet_at, alert_label),
  ADD KEY IF NOT EXISTS ix_alert_time_class (alert, first_packet_at, alert_label);

-- The reporting account reads the rollup. It is at '%' on a new database (sql/003 makes it there; `fleetcap migrate`
-- binds it to FLEETCAP_MYSQL_ACCOUNT_HOST after the migrations) and at that host on one bound before: the grant goes
-- to the host the account has, preferring the bound one.
SET @grant_rollup = (
  SELECT CONCAT('GRANT SELECT ON alert_count_hour TO ', QUOTE(User), '@', QUOTE(Host))
  FROM mysql.user WHERE User = '{{REPORT_USER}}' ORDER BY Host = '{{ACCOUNT_HOST}}' DESC, Host LIMIT 1
);
EXECUTE IMMEDIATE @grant_rollup;
